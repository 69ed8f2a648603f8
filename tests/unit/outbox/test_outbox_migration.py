"""An outbox file written by an earlier schema (an event per row, batch membership in the
rows) is migrated on open, through every later schema to a batch per row, without losing
a pending event: the batch in flight is resent with its id and its events, the queue
follows, and a batch that cannot be kept as a range is dissolved rather than resent with
different events. The file leaves WAL for a rollback journal and takes 512-byte pages."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path
from typing import Any

from edge.ids import new_id
from edge.outbox.store import MIGRATIONS, Outbox

DEVICE = "dev-1"


def version_4_outbox(path: Path, rows: list[tuple[dict[str, Any], str | None]]) -> None:
    """A file as the previous schema left it: `rows` are (event, its batch id or None)."""
    conn = sqlite3.connect(path)
    for script in MIGRATIONS[:4]:
        conn.executescript(script)
    conn.execute("PRAGMA user_version=4")
    for event, batch_id in rows:
        body = json.dumps(event, separators=(",", ":"))
        conn.execute(
            "INSERT INTO events(id, type, ts, body, size, batch_id) VALUES (?, ?, ?, ?, ?, ?)",
            [event["id"], event["type"], event["ts"], body, len(body), batch_id],
        )
    conn.execute(
        "INSERT OR REPLACE INTO counters(name, value) VALUES ('stored_rows', ?)", [len(rows)]
    )
    conn.commit()
    conn.close()


def event(n: int) -> dict[str, Any]:
    return {"id": new_id(), "type": "impression", "ts": 1_800_000_000_000 + n, "n": n}


def sent(payload: bytes) -> list[int]:
    return [e["n"] for e in json.loads(payload)["events"]]


def deliver_all(box: Outbox) -> list[tuple[str, list[int]]]:
    """Send and acknowledge batch after batch until nothing is left."""
    out = []
    while (batch := box.next_batch(DEVICE)) is not None:
        out.append((batch.batch_id, sent(batch.payload)))
        assert box.ack(batch.batch_id) == len(batch.event_ids)
    return out


def test_the_batch_in_flight_is_resent_as_it_was_and_every_pending_event_follows(
    tmp_path: Path,
) -> None:
    path = tmp_path / "outbox.sqlite3"
    version_4_outbox(path, [(event(n), "b-old" if n < 2 else None) for n in range(6)])
    with sqlite3.connect(path) as conn:  # as the previous release left it: WAL
        conn.execute("PRAGMA journal_mode=WAL")
    with Outbox(path) as box:
        assert box.db.execute("PRAGMA journal_mode").fetchone()[0] == "persist"
        assert box.db.execute("PRAGMA page_size").fetchone()[0] == 512  # small: rewritten
        assert box.status()["inflight"] == 2 and box.status()["pending"] == 4
        delivered = deliver_all(box)
        assert delivered[0] == ("b-old", [0, 1])  # same id, same events
        assert [n for _id, ns in delivered[1:] for n in ns] == [2, 3, 4, 5]
        assert box.pending() == 0
        tables = {row[0] for row in box.db.execute("SELECT name FROM sqlite_master")}
        assert "events" not in tables and "ranges" not in tables


def test_a_batch_whose_range_holds_other_events_is_dissolved_not_changed(tmp_path: Path) -> None:
    path = tmp_path / "outbox.sqlite3"
    marks = ["b-odd", None, "b-odd", None]  # not a range: an unbatched event in between
    version_4_outbox(path, [(event(n), mark) for n, mark in enumerate(marks)])
    with Outbox(path) as box:
        assert box.status()["inflight"] == 0 and box.status()["pending"] == 4
        delivered = deliver_all(box)
        assert [ns for _id, ns in delivered] == [[0, 1, 2, 3]]
        assert delivered[0][0] != "b-odd"  # a new id: central de-duplicates by event id
        assert box.ack("b-odd") == 0


def test_the_migrated_file_survives_a_reopen_mid_batch(tmp_path: Path) -> None:
    path = tmp_path / "outbox.sqlite3"
    version_4_outbox(path, [(event(n), None) for n in range(4)])
    with Outbox(path) as box:
        first = box.next_batch(DEVICE)
        assert first is not None and sent(first.payload) == [0, 1, 2, 3]
    with Outbox(path) as box:  # a crash or restart before the ack: the same batch again
        again = box.next_batch(DEVICE)
        assert again == first
        box.append([event(9)])
        assert [ns for _id, ns in deliver_all(box)] == [[0, 1, 2, 3], [9]]
