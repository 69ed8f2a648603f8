"""The outbox's rows: a batch per row (packing.py), and the running totals beside them.

Every function runs inside the caller's write transaction. A batch that may have been
sent (`offered`) is never changed; any other change to a batch's events gives it a new
`batch_id`, so an id is never sent twice with different events.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Collection, Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from edge.ids import new_id
from edge.outbox import packing

BATCHES = """
    CREATE TABLE batches (
        seq INTEGER PRIMARY KEY,
        batch_id TEXT NOT NULL,
        events INTEGER NOT NULL,
        size INTEGER NOT NULL,
        low_value INTEGER NOT NULL,
        first_ts INTEGER NOT NULL,
        last_ts INTEGER NOT NULL,
        unsynced INTEGER NOT NULL,
        offered INTEGER NOT NULL DEFAULT 0,
        body BLOB NOT NULL
    )
"""
"""A row per batch, oldest first by `seq`; `offered`: it may have been sent (such a batch
is never changed, so a resend carries the same events); `body`: packing.py. The blob
comes last, so a query of the other columns never reads its overflow pages."""


COLUMNS = "(batch_id, events, size, low_value, first_ts, last_ts, unsynced, offered, body)"
"""What a batch's events make of its row: `columns`, in this order."""


def columns(
    row: packing.Packed, offered: bool = False, batch_id: str | None = None
) -> list[object]:
    """`row` under `batch_id` (a new one by default), in COLUMNS order."""
    return [
        batch_id or new_id(),
        row.events,
        row.size,
        row.low_value,
        row.first_ts,
        row.last_ts,
        row.unsynced,
        int(offered),
        row.body,
    ]


def insert_batch(
    conn: sqlite3.Connection, texts: list[str], offered: bool = False, batch_id: str | None = None
) -> packing.Packed:
    """Store `texts` as a new batch (inside the caller's transaction); returns its row."""
    row = packing.pack(texts)
    conn.execute(
        f"INSERT INTO batches{COLUMNS} VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
        columns(row, offered, batch_id),
    )
    return row


def texts_of(conn: sqlite3.Connection, seq: int) -> list[str]:
    """The events' JSON of batch `seq`, in order."""
    (body,) = conn.execute("SELECT body FROM batches WHERE seq = ?", [seq]).fetchone()
    return packing.unpack(body)


@dataclass(frozen=True, slots=True)
class Stored:
    """A batch as stored, its events read."""

    seq: int
    texts: list[str]
    events: list[dict[str, Any]]
    sent: bool  # it may have been sent: only a purge changes it


def stored(
    conn: sqlite3.Connection,
    sent: Collection[str],
    where: str = "1",
    params: Sequence[object] = (),
    *,
    unsent_only: bool = False,
) -> Iterator[Stored]:
    """The batches matching `where`, oldest first, with their events read; `sent`: the ids
    this process sent (`offered` on disk says the rest)."""
    for seq, batch_id, offered in conn.execute(
        f"SELECT seq, batch_id, offered FROM batches WHERE {where} ORDER BY seq", params
    ).fetchall():
        maybe_sent = bool(offered) or batch_id in sent
        if unsent_only and maybe_sent:
            continue
        texts = texts_of(conn, seq)
        yield Stored(seq, texts, [json.loads(t) for t in texts], maybe_sent)


def count_drops(conn: sqlite3.Connection, dropped: Mapping[str, int]) -> None:
    """Add events dropped (by a budget, expiry, a full disk) to `dropped.{type}`."""
    for kind, count in dropped.items():
        bump(conn, f"dropped.{kind}", count)


def replace_batch(conn: sqlite3.Connection, seq: int, texts: list[str]) -> None:
    """Batch `seq` now holds `texts` (some of its events, or corrected ones) under a new
    batch id, not offered; deleted when `texts` is empty. The totals follow."""
    size, events = conn.execute("SELECT size, events FROM batches WHERE seq = ?", [seq]).fetchone()
    if texts:
        row = packing.pack(texts)
        conn.execute(
            f"UPDATE batches SET {COLUMNS} = (?, ?, ?, ?, ?, ?, ?, ?, ?) WHERE seq = ?",
            [*columns(row), seq],
        )
        bump(conn, "stored_rows", row.events - int(events))
        bump(conn, "stored_bytes", row.size - int(size))
    else:
        conn.execute("DELETE FROM batches WHERE seq = ?", [seq])
        bump(conn, "stored_rows", -int(events))
        bump(conn, "stored_bytes", -int(size))


def bump(conn: sqlite3.Connection, name: str, by: int) -> None:
    """Add `by` to counter `name`."""
    conn.execute(
        "INSERT INTO counters(name, value) VALUES (?, ?) "
        "ON CONFLICT(name) DO UPDATE SET value = value + excluded.value",
        [name, by],
    )


def totals(conn: sqlite3.Connection) -> tuple[int, int]:
    """Events stored and their bytes, from the running totals."""
    got = dict(
        conn.execute(
            "SELECT name, value FROM counters WHERE name IN ('stored_rows', 'stored_bytes')"
        ).fetchall()
    )
    return int(got.get("stored_rows", 0)), int(got.get("stored_bytes", 0))
