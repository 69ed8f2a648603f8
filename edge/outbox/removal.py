"""Events leaving the outbox other than by acknowledgement: expiry by age, and a
visitor's purge (docs/data-protection.md).

Each runs inside the caller's write transaction. An unacknowledged batch is never
resent with different events: expiry takes it only whole, and a purge dissolves it
(its other events are queued again, to go in a new batch).
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterable
from dataclasses import dataclass

from edge.outbox.budget import DROP_CHUNK, Victim
from edge.outbox.schema import UNBATCHED, bump, forget_rows


@dataclass(frozen=True, slots=True)
class Purged:
    """What `purge_visitor` removed: events, the check-in nonces they named, and how many
    other events left an unacknowledged batch (they are sent again in a new batch)."""

    events: int
    nonces: tuple[str, ...]
    released: int


def expire(conn: sqlite3.Connection, before_ts: int) -> dict[str, int]:
    """Delete events stamped by a synchronised clock before `before_ts` (ms), counted as
    drops by type and in `expired_total`; returns the drops by type."""
    victims: list[Victim] = []
    after = 0
    while True:  # oldest first; stop at the first event within retention
        chunk = conn.execute(
            "SELECT seq, type, size, ts, json_extract(body, '$.clock_synced')"
            f" FROM events WHERE {UNBATCHED} AND seq > ? ORDER BY seq LIMIT ?",
            [after, DROP_CHUNK],
        ).fetchall()
        recent = False
        for seq, kind, size, ts, synced in chunk:
            if synced == 1 and ts >= before_ts:
                recent = True
                break
            if synced == 1:
                victims.append((seq, kind, size))
        if recent or len(chunk) < DROP_CHUNK:
            break
        after = chunk[-1][0]
    # then whole batches (after the scan above, which must not see them as unbatched)
    for batch_id, first, last in conn.execute(
        "SELECT batch_id, first_seq, last_seq FROM batches"
        " WHERE (SELECT MAX(ts) < ? AND MIN(json_extract(body, '$.clock_synced')) = 1"
        " FROM events WHERE seq BETWEEN first_seq AND last_seq)",
        [before_ts],
    ).fetchall():
        victims += conn.execute(
            "SELECT seq, type, size FROM events WHERE seq BETWEEN ? AND ?", [first, last]
        ).fetchall()
        conn.execute("DELETE FROM batches WHERE batch_id = ?", [batch_id])
    if not victims:
        return {}
    dropped = forget_rows(conn, victims)
    for kind, count in dropped.items():
        bump(conn, f"dropped.{kind}", count)
    bump(conn, "expired_total", len(victims))
    return dropped


def purge_visitor(conn: sqlite3.Connection, forms: Iterable[str]) -> Purged:
    """Delete every event naming any of `forms` (a visitor's id and its pseudonyms),
    wherever it is, dissolving the unacknowledged batches that held one."""
    names = sorted(set(forms))
    marks = ",".join("?" * len(names))
    where = f"json_extract(body, '$.visitor') IN ({marks})"
    rows = conn.execute(
        f"SELECT seq, size, json_extract(body, '$.nonce') FROM events WHERE {where}", names
    ).fetchall()
    conn.executemany("DELETE FROM events WHERE seq = ?", [(r[0],) for r in rows])
    released = 0
    for batch_id, first, last in conn.execute(
        "SELECT batch_id, first_seq, last_seq FROM batches"
    ).fetchall():
        if any(first <= r[0] <= last for r in rows):  # dissolved: its others queued again
            conn.execute("DELETE FROM batches WHERE batch_id = ?", [batch_id])
            released += conn.execute(
                "SELECT COUNT(*) FROM events WHERE seq BETWEEN ? AND ?", [first, last]
            ).fetchone()[0]
    if rows:
        bump(conn, "stored_rows", -len(rows))
        bump(conn, "stored_bytes", -sum(int(r[1]) for r in rows))
        bump(conn, "purged_total", len(rows))
    nonces = tuple(str(r[2]) for r in rows if isinstance(r[2], str))
    return Purged(len(rows), nonces, released)
