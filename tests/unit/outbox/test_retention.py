"""Retention and purge on real SQLite files: what goes, what stays, what is counted."""

from __future__ import annotations

import contextlib
import json
import os
import sqlite3
import time
from pathlib import Path
from typing import Any

from edge.ids import new_id
from edge.link.schemas import Decision
from edge.outbox.retention import DAY_MS, sweep
from edge.outbox.store import COMMAND_MARGIN_MS, MIGRATIONS, Outbox
from edge.personalize.decisions import DecisionCache
from edge.presence.decode import Beacon
from edge.presence.tracker import Tracker, TrackerParams

NOW = 1_800_000_000_000


def event(
    ts: int, visitor: str | None = "hk:aa", type_: str = "visit.enter", **more: Any
) -> dict[str, Any]:
    return {
        "id": new_id(),
        "type": type_,
        "ts": ts,
        "clock_synced": True,
        "visitor": visitor,
    } | more


def stored(box: Outbox) -> list[dict[str, Any]]:
    return [json.loads(body) for body in box.events()]


def raw_bytes(db: Path) -> bytes:
    return b"".join(
        Path(str(db) + s).read_bytes()
        for s in ("", "-journal", "-wal", "-shm")
        if Path(str(db) + s).exists()
    )


def test_unsent_events_past_retention_are_deleted_and_counted(tmp_path: Path) -> None:
    old, recent = NOW - 31 * DAY_MS, NOW - 29 * DAY_MS
    unsynced = {**event(old), "clock_synced": False}
    with Outbox(tmp_path / "o.sqlite3") as box:
        box.append([event(old, type_="visit.dwell"), event(old), unsynced, event(recent)])
        dropped = box.expire(NOW - 30 * DAY_MS)
        assert dropped == {"visit.dwell": 1, "visit.enter": 1}
        left = stored(box)
        assert [e["ts"] for e in left] == [old, recent]  # the unsynced one: its time is unknown
        assert left[0]["clock_synced"] is False
        assert box.counter("expired_total") == 2
        assert box.status()["dropped"] == {"visit.dwell": 1, "visit.enter": 1}
        assert box.pending() == 2
    with Outbox(tmp_path / "o.sqlite3") as box:  # counted across restarts
        assert box.counter("expired_total") == 2


def test_a_batch_in_flight_goes_only_as_a_whole(tmp_path: Path) -> None:
    cutoff = NOW - 30 * DAY_MS
    with Outbox(tmp_path / "o.sqlite3") as box:
        box.append([event(cutoff - 10), event(cutoff + 10)])
        first = box.next_batch("dev")
        assert first is not None and len(first.event_ids) == 2
        assert box.expire(cutoff) == {}  # one event is within retention: the batch stays
        again = box.next_batch("dev")
        assert again == first  # resent with its id and its events
        assert box.expire(cutoff + 11) == {"visit.enter": 2}
        assert box.next_batch("dev") is None and box.pending() == 0


def test_remembered_commands_are_forgotten_after_expiry_and_margin(tmp_path: Path) -> None:
    with Outbox(tmp_path / "o.sqlite3") as box:
        assert box.remember_command("c1", NOW, NOW + 60_000)
        assert box.remember_command("c2", NOW, NOW + 10 * DAY_MS)
        assert not box.remember_command("c1", NOW, NOW + 60_000)
        assert box.forget_commands(NOW + 60_000 + COMMAND_MARGIN_MS - 1) == 0
        assert box.forget_commands(NOW + 60_000 + COMMAND_MARGIN_MS + 1) == 1
        assert box.remember_command("c1", NOW, NOW + 60_000)  # forgotten: (expired anyway)
        assert not box.remember_command("c2", NOW, NOW + 10 * DAY_MS)


def test_a_version_3_outbox_is_migrated_and_keeps_its_commands(tmp_path: Path) -> None:
    path = tmp_path / "o.sqlite3"
    conn = sqlite3.connect(path)
    for script in MIGRATIONS[:3]:
        conn.executescript(script)
    conn.execute("PRAGMA user_version=3")
    conn.execute("INSERT INTO commands(cmd_id, ts) VALUES ('old', ?)", [NOW])
    conn.commit()
    conn.close()
    with Outbox(path) as box:
        assert not box.remember_command("old", NOW + 1, NOW + 2)
        assert box.forget_commands(NOW + COMMAND_MARGIN_MS + 1) == 1  # judged by receipt time


def test_sweep_needs_a_synchronised_clock_and_removes_old_corrupt_copies(tmp_path: Path) -> None:
    path = tmp_path / "o.sqlite3"
    old_copy = tmp_path / "o.sqlite3.corrupt-20200101T000000"
    new_copy = tmp_path / "o.sqlite3.corrupt-20990101T000000"
    for copy in (old_copy, new_copy):
        copy.write_bytes(b"events of someone")
    os.utime(old_copy, (time.time() - 40 * 86400, time.time() - 40 * 86400))
    now = int(time.time() * 1000)
    with Outbox(path) as box:
        box.append([event(now - 40 * DAY_MS), event(now)])
        assert sweep(box, now_ms=now, synced=False, retention_days=30).expired == {}
        assert old_copy.exists() and box.pending() == 2
        swept = sweep(box, now_ms=now, synced=True, retention_days=30)
        assert swept.expired == {"visit.enter": 1} and swept.copies == 1
        assert not old_copy.exists() and new_copy.exists() and box.pending() == 1


def test_purge_leaves_no_trace_in_the_file_and_requeues_the_rest_of_a_batch(
    tmp_path: Path,
) -> None:
    """Events are stored compressed, so the file is searched for the stored rows' own
    bytes (what a forensic tool would have to find), not for the visitor's id."""
    path = tmp_path / "o.sqlite3"
    gone, kept = "hk:" + "a" * 64, "hk:" + "b" * 64
    with Outbox(path, batch_max_events=2) as box:
        box.append([event(NOW, gone, note="acked-earlier"), event(NOW, kept)])
        batch = box.next_batch("dev")
        traces = stored_rows(path)  # the acknowledged batch, as it was on disk
        assert batch is not None and box.ack(batch.batch_id) == 2  # synced, deleted on ack
        box.append([event(NOW, gone, note="in-flight"), event(NOW, kept, note="sibling")])
        in_flight = box.next_batch("dev")
        assert in_flight is not None
        box.append(
            [
                event(NOW, gone, type_="checkin", nonce="nonce-of-gone", note="pending"),
                event(NOW, None, type_="impression"),
            ]
        )
        traces += stored_rows(path)
        assert all(found(raw_bytes(path), blob) for blob in traces[1:])  # the scan can see
        purged = box.purge_visitor({gone, "line:0123456789"})
        assert (purged.events, purged.nonces, purged.released) == (2, ("nonce-of-gone",), 1)
        again = box.next_batch("dev")
        assert again is not None and again.batch_id != in_flight.batch_id
        assert [json.loads(again.payload)["events"][0]["note"]] == ["sibling"]
        assert box.ack(in_flight.batch_id) == 0  # a late ack of the dissolved batch: nothing
        assert box.counter("purged_total") == 2
        assert gone not in "".join(box.events()) and kept in "".join(box.events())
        for closing in (False, True):  # while open, and once more after closing
            if closing:
                box.close()
            data = raw_bytes(path)
            assert not any(found(data, blob) for blob in traces)  # no copy in file or journal
            assert b"nonce-of-gone" not in data


def stored_rows(db: Path) -> list[bytes]:
    """The compressed body of every batch stored now, read beside the outbox."""
    with contextlib.closing(sqlite3.connect(f"file:{db}?mode=ro", uri=True)) as conn:
        return [bytes(row[0]) for row in conn.execute("SELECT body FROM batches ORDER BY seq")]


def found(data: bytes, blob: bytes) -> bool:
    """Does any 16-byte stretch of `blob` occur in `data` (overflow pages split a blob,
    so its stretches are looked for, not the whole)?"""
    return any(blob[i : i + 16] in data for i in range(0, max(1, len(blob) - 16), 8))


def test_expired_decisions_leave_memory() -> None:
    cache = DecisionCache()
    decision = Decision(request_id="r", visitor="hk:x", show_ms=1, ttl_ms=1000)
    cache.remember("hk:x", decision, now=0.0)
    cache.remember("hk:y", decision, now=5.0)
    cache.prune(3.0)
    assert set(cache._kept) == {"hk:y"}


def test_a_purged_tag_leaves_the_tracker_without_an_exit_event() -> None:
    tracker = Tracker(TrackerParams(), iter(["visit-1", "visit-2"]).__next__)
    tag = Beacon("line:0123456789", "line", -59)
    events = [e for t in range(40) for e in tracker.observe(tag, -55, t * 0.1)]
    assert [e.type for e in events] == ["approach.enter"] and tracker.visitors_present == 1
    assert tracker.forget(lambda identity: identity == "line:0123456789") == 1
    assert tracker.visitors_present == 0 and tracker.tick(60.0) == []
    assert tracker.close_all(60.0) == []
    again = [e for t in range(40) for e in tracker.observe(tag, -55, 70 + t * 0.1)]
    assert [(e.type, e.visit_id) for e in again] == [("approach.enter", "visit-2")]
