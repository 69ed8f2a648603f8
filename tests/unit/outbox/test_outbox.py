"""The SQLite outbox on real files: batching, resend with the same id, ack, durability."""

from __future__ import annotations

import json
import sqlite3
import tempfile
from pathlib import Path
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from edge.ids import new_id
from edge.outbox.store import MIGRATIONS, Outbox
from tests.support.examples import examples

DEVICE = "edge-01"


def event(n: int, **extra: Any) -> dict[str, Any]:
    return {
        "id": new_id(),
        "type": "visit.enter",
        "ts": 1_700_000_000_000 + n,
        "clock_synced": True,
        "visitor": f"ibeacon:f7826da6-4fa2-4e98-8024-bc5b71e0893e:1:{n}",
        "visit_id": f"visit-{n}",
        "zone": "near",
        "rssi": -60,
        **extra,
    }


def body_size(ev: dict[str, Any]) -> int:
    """An event's size as it travels: compact UTF-8 JSON."""
    return len(json.dumps(ev, separators=(",", ":"), ensure_ascii=False).encode())


def decode(payload: bytes) -> dict[str, Any]:
    obj: dict[str, Any] = json.loads(payload.decode("utf-8"))
    return obj


def test_empty_outbox_has_nothing_to_send(tmp_path: Path) -> None:
    with Outbox(tmp_path / "o.sqlite3") as box:
        assert box.next_batch(DEVICE) is None


def test_batches_are_cut_from_each_commit_oldest_first_within_max_events(
    tmp_path: Path,
) -> None:
    events = [event(n) for n in range(10)]
    with Outbox(tmp_path / "o.sqlite3", batch_max_events=5) as box:
        assert box.append(events[:3]) == 3
        assert box.append(events[3:]) == 7
        sent = []
        while (batch := box.next_batch(DEVICE)) is not None:
            assert decode(batch.payload)["events"] == [
                e for e in events if e["id"] in batch.event_ids
            ]
            sent.append(len(batch.event_ids))
            box.ack(batch.batch_id)
        assert sent == [3, 5, 2]  # a batch never spans two commits


def test_batch_respects_byte_budget(tmp_path: Path) -> None:
    events = [event(n, note="x" * 100) for n in range(6)]
    size = body_size(events[0])
    assert all(body_size(e) == size for e in events)
    budget = size * 3 + size // 2  # room for three and a half
    with Outbox(tmp_path / "o.sqlite3", batch_max_bytes=budget) as box:
        box.append(events)
        batch = box.next_batch(DEVICE)
        assert batch is not None
        assert batch.event_ids == tuple(e["id"] for e in events[:3])
        assert box.ack(batch.batch_id) == 3
        rest = box.next_batch(DEVICE)
        assert rest is not None
        assert rest.event_ids == tuple(e["id"] for e in events[3:])


def test_an_event_over_the_byte_budget_still_goes_alone(tmp_path: Path) -> None:
    big = event(0, note="y" * 5000)
    small = event(1)
    with Outbox(tmp_path / "o.sqlite3", batch_max_bytes=1000) as box:
        box.append([big, small])
        batch = box.next_batch(DEVICE)
        assert batch is not None
        assert batch.event_ids == (big["id"],)  # never stuck behind one large event


def test_payload_matches_protocol(tmp_path: Path) -> None:
    events = [
        event(1),
        {
            "id": new_id(),
            "type": "impression",
            "ts": 1_700_000_000_500,
            "clock_synced": False,
            "content_id": "café-crème ☕",
            "campaign_id": None,
            "variant": None,
            "request_id": None,
            "visitor": None,
            "shown_ms": 8000,
        },
        {
            "id": new_id(),
            "type": "device.health",
            "ts": 1_700_000_000_900,
            "clock_synced": True,
            "uptime_s": 12.5,
            "queue": {"pending": 3},
        },
    ]
    with Outbox(tmp_path / "o.sqlite3") as box:
        box.append(events)
        batch = box.next_batch(DEVICE)
        assert batch is not None
        obj = decode(batch.payload)
    assert set(obj) == {"batch_id", "device_id", "events"}
    assert obj["batch_id"] == batch.batch_id
    assert isinstance(obj["batch_id"], str) and obj["batch_id"]
    assert obj["device_id"] == DEVICE
    assert obj["events"] == events  # exactly as appended, in order, unicode intact


def test_resend_before_ack_keeps_batch_id_and_events(tmp_path: Path) -> None:
    with Outbox(tmp_path / "o.sqlite3") as box:
        box.append([event(n) for n in range(3)])
        first = box.next_batch(DEVICE)
        box.append([event(10)])  # arrives while the batch is in flight
        again = box.next_batch(DEVICE)
        assert first is not None and again is not None
        assert again.batch_id == first.batch_id
        assert again.event_ids == first.event_ids
        assert decode(again.payload)["events"] == decode(first.payload)["events"]
        status = box.status()
        assert (status["inflight"], status["pending"]) == (3, 1)


def test_ack_deletes_batch_and_counts(tmp_path: Path) -> None:
    events = [event(n) for n in range(4)]
    with Outbox(tmp_path / "o.sqlite3", batch_max_events=3) as box:
        box.append(events)
        first = box.next_batch(DEVICE)
        assert first is not None
        assert box.ack(first.batch_id) == 3
        assert box.status()["acked_total"] == 3
        assert box.ack(first.batch_id) == 0  # a duplicate ack changes nothing
        nxt = box.next_batch(DEVICE)
        assert nxt is not None
        assert nxt.batch_id != first.batch_id
        assert nxt.event_ids == (events[3]["id"],)
        assert box.ack(nxt.batch_id) == 1
        assert box.status()["acked_total"] == 4
        assert box.next_batch(DEVICE) is None


def test_ack_of_unknown_batch_deletes_nothing(tmp_path: Path) -> None:
    with Outbox(tmp_path / "o.sqlite3") as box:
        box.append([event(n) for n in range(2)])
        batch = box.next_batch(DEVICE)
        assert batch is not None
        assert box.ack(new_id()) == 0
        assert box.ack("") == 0
        status = box.status()
        assert (status["inflight"], status["acked_total"]) == (2, 0)
        again = box.next_batch(DEVICE)
        assert again is not None and again.batch_id == batch.batch_id


def test_data_survives_reopen(tmp_path: Path) -> None:
    path = tmp_path / "state" / "o.sqlite3"  # the folder is created
    events = [event(n) for n in range(5)]
    with Outbox(path, batch_max_events=2) as box:
        box.append(events)
        inflight = box.next_batch(DEVICE)
        assert inflight is not None
    with Outbox(path, batch_max_events=2) as box:
        status = box.status()
        assert (status["inflight"], status["pending"]) == (2, 3)
        resent = box.next_batch(DEVICE)
        assert resent is not None
        assert resent.batch_id == inflight.batch_id  # same id after a restart
        assert resent.payload == inflight.payload
        assert box.ack(resent.batch_id) == 2
    with Outbox(path) as box:
        assert box.status()["acked_total"] == 2
        rest = box.next_batch(DEVICE)
        assert rest is not None
        assert decode(rest.payload)["events"] == events[2:4]


def test_status_keys(tmp_path: Path) -> None:
    with Outbox(tmp_path / "o.sqlite3") as box:
        empty = box.status()
        assert set(empty) == {
            "pending",
            "inflight",
            "dropped",
            "acked_total",
            "oldest_pending_ts",
            "db_bytes",
        }
        assert (empty["pending"], empty["inflight"], empty["acked_total"]) == (0, 0, 0)
        assert empty["oldest_pending_ts"] is None
        assert empty["db_bytes"] > 0
        box.append([event(5), event(2), event(9)])
        status = box.status()
        assert status["pending"] == 3
        assert status["oldest_pending_ts"] == 1_700_000_000_002
        assert set(status) == set(empty)
        json.dumps(status)  # printable as --json


def test_duplicate_event_id_is_stored_once(tmp_path: Path) -> None:
    ev = event(1)
    with Outbox(tmp_path / "o.sqlite3") as box:
        box.append([ev])
        box.append([ev, event(2)])
        box.append([dict(ev, rssi=-99)])  # same id, other content: still the first one
        assert box.status()["pending"] == 2
        batch = box.next_batch(DEVICE)
        assert batch is not None
        sent = decode(batch.payload)["events"]
        assert [e["id"] for e in sent].count(ev["id"]) == 1
        assert sent[0] == ev


def test_append_nothing(tmp_path: Path) -> None:
    with Outbox(tmp_path / "o.sqlite3") as box:
        assert box.append([]) == 0
        assert box.status()["pending"] == 0


def test_journal_and_schema_version(tmp_path: Path) -> None:
    path = tmp_path / "o.sqlite3"
    with Outbox(path):
        pass
    with Outbox(path) as box:  # reopening does not re-run migrations
        assert box.db.execute("PRAGMA journal_mode").fetchone()[0] == "persist"
    conn = sqlite3.connect(path)
    try:
        assert conn.execute("PRAGMA page_size").fetchone()[0] == 512
        assert conn.execute("PRAGMA user_version").fetchone()[0] == len(MIGRATIONS)
    finally:
        conn.close()


# -- property: draining delivers every event once, in order -----------------------------


@settings(max_examples=examples(30), deadline=None)
@given(
    chunks=st.lists(st.integers(0, 8), max_size=6),
    max_events=st.integers(1, 5),
    resend=st.lists(st.booleans(), min_size=1, max_size=5),
)
def test_drain_delivers_every_event_once_in_order(
    chunks: list[int], max_events: int, resend: list[bool]
) -> None:
    appended: list[dict[str, Any]] = []
    delivered: list[dict[str, Any]] = []
    with (
        tempfile.TemporaryDirectory() as tmp,
        Outbox(Path(tmp) / "o.sqlite3", batch_max_events=max_events) as box,
    ):
        n = 0
        for i, size in enumerate(chunks):
            chunk = [event(n + k) for k in range(size)]
            n += size
            box.append(chunk)
            appended += chunk
            # Send one batch per chunk, sometimes losing the ack once.
            batch = box.next_batch(DEVICE)
            if batch is None:
                continue
            assert len(batch.event_ids) <= max_events
            if resend[i % len(resend)]:
                again = box.next_batch(DEVICE)
                assert again is not None and again.batch_id == batch.batch_id
            delivered += decode(batch.payload)["events"]
            box.ack(batch.batch_id)
        while (batch := box.next_batch(DEVICE)) is not None:
            delivered += decode(batch.payload)["events"]
            box.ack(batch.batch_id)
        assert box.status()["acked_total"] == len(appended)
    assert delivered == appended


def test_sending_and_acks_write_nothing_until_the_next_commit_carries_them(
    tmp_path: Path,
) -> None:
    """SD card wear: a batch and its ack cost no transaction of their own; the next
    commit (fsynced, as every append) writes them, or the close does."""
    path = tmp_path / "o.sqlite3"
    with Outbox(path) as box:
        box.append([event(1)])
        statements: list[str] = []
        box.db.conn.set_trace_callback(statements.append)
        batch = box.next_batch(DEVICE)
        assert batch is not None and box.ack(batch.batch_id) == 1
        assert [
            s for s in statements if s.startswith(("BEGIN", "INSERT", "UPDATE", "DELETE"))
        ] == []
        assert box.pending() == 0 and box.next_batch(DEVICE) is None  # gone for the device
        assert box.status()["acked_total"] == 1
        box.append([event(2)])
        assert statements.count("BEGIN IMMEDIATE") == 1  # the ack rode along
        assert box.db.execute("PRAGMA synchronous").fetchone()[0] == 2  # FULL
        box.db.conn.set_trace_callback(None)
        (rows,) = box.db.execute("SELECT COUNT(*) FROM batches").fetchone()
        assert rows == 1  # the acknowledged batch is deleted on disk
        second = box.next_batch(DEVICE)
        assert second is not None and box.ack(second.batch_id) == 1
    with Outbox(path) as box:  # the close wrote the last ack
        assert box.pending() == 0 and box.counter("acked_total") == 2
