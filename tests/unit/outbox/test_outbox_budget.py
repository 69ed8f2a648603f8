"""Outbox bounds and failures on real SQLite files: budgets, corrupt files, a full disk."""

from __future__ import annotations

import json
import os
import re
import sqlite3
import time
from pathlib import Path
from typing import Any

import pytest

from edge.ids import new_id
from edge.outbox.store import Outbox, StorageError

DEVICE = "edge-01"
NO_LIMIT_PAGES = 1_073_741_823  # SQLite's own maximum for max_page_count


def event(n: int, type_: str = "visit.enter", **extra: Any) -> dict[str, Any]:
    return {
        "id": new_id(),
        "type": type_,
        "ts": 1_700_000_000_000 + n,
        "clock_synced": True,
        "visitor": f"ibeacon:f7826da6-4fa2-4e98-8024-bc5b71e0893e:1:{n}",
        "visit_id": f"visit-{n}",
        "zone": "near",
        "rssi": -60,
        **extra,
    }


def size(ev: dict[str, Any]) -> int:
    return len(json.dumps(ev, separators=(",", ":"), ensure_ascii=False).encode())


def stored_ids(box: Outbox) -> list[str]:
    return [json.loads(body)["id"] for body in box.events()]


def real_totals(box: Outbox) -> tuple[int, int]:
    rows, size_sum = box.db.execute(
        "SELECT COALESCE(SUM(events), 0), COALESCE(SUM(size), 0) FROM batches"
    ).fetchone()
    return int(rows), int(size_sum)


# -- row budget ------------------------------------------------------------------------


def test_over_the_row_budget_low_value_kinds_go_first_oldest_first(tmp_path: Path) -> None:
    enter0 = event(0)
    dwell1 = event(1, "visit.dwell", dwell_ms=1000)
    health2 = event(2, "device.health")
    enter3 = event(3)
    dwell4 = event(4, "visit.dwell", dwell_ms=4000)
    later = [
        event(5, "visit.exit"),
        event(6, "impression"),
        event(7, "checkin"),
        event(8),
        event(9),
    ]
    with Outbox(tmp_path / "o.sqlite3", max_rows=5) as box:
        box.append([enter0, dwell1, health2, enter3, dwell4])  # exactly at the budget
        assert box.status()["dropped"] == {}
        box.append([later[0]])
        assert dwell1["id"] not in stored_ids(box)  # the oldest low-value event
        box.append([later[1]])
        assert health2["id"] not in stored_ids(box)  # health is as low as dwell: oldest next
        box.append([later[2]])
        assert dwell4["id"] not in stored_ids(box)
        assert box.status()["dropped"] == {"visit.dwell": 2, "device.health": 1}
        box.append([later[3]])  # no low-value kind left: the oldest of any kind
        assert stored_ids(box) == [enter3["id"]] + [e["id"] for e in later[:4]]
        box.append([later[4]])
        assert stored_ids(box) == [e["id"] for e in later]
        status = box.status()
        assert status["dropped"] == {"visit.dwell": 2, "device.health": 1, "visit.enter": 2}
        assert status["pending"] == 5
        assert box.counter("dropped.visit.dwell") == 2
        assert box.counter("dropped.visit.enter") == 2
        assert box.counter("accepted_total") == 10
        assert (box.pending(), box.counter("stored_bytes")) == real_totals(box)


def test_one_big_append_drops_exactly_the_excess(tmp_path: Path) -> None:
    kinds = ["visit.enter", "visit.dwell", "device.health", "impression"] * 10  # 40 events
    events = [event(n, kind) for n, kind in enumerate(kinds)]
    with Outbox(tmp_path / "o.sqlite3", max_rows=25) as box:
        assert box.append(events) == 40
        assert box.pending() == 25
        # 15 over: the 15 oldest of the 20 low-value events, nothing else.
        low = [e for e in events if e["type"] in ("visit.dwell", "device.health")]
        gone = {e["id"] for e in low[:15]}
        assert stored_ids(box) == [e["id"] for e in events if e["id"] not in gone]
        assert box.status()["dropped"] == {"device.health": 7, "visit.dwell": 8}
        assert (box.pending(), box.counter("stored_bytes")) == real_totals(box)


def test_a_batch_in_flight_is_never_dropped(tmp_path: Path) -> None:
    dwells = [event(n, "visit.dwell", dwell_ms=n) for n in range(4)]
    with Outbox(tmp_path / "o.sqlite3", max_rows=4, batch_max_events=3) as box:
        box.append(dwells)
        batch = box.next_batch(DEVICE)
        assert batch is not None
        assert batch.event_ids == tuple(e["id"] for e in dwells[:3])
        news = [event(10 + n) for n in range(3)]
        box.append(news)
        # 7 rows, budget 4: the one low-value event not in flight, then the oldest new ones.
        assert stored_ids(box) == [e["id"] for e in dwells[:3]] + [news[2]["id"]]
        assert box.status()["dropped"] == {"visit.dwell": 1, "visit.enter": 2}
        assert box.status()["inflight"] == 3
        again = box.next_batch(DEVICE)
        assert again is not None and again.payload == batch.payload
        assert box.ack(batch.batch_id) == 3


def test_in_flight_batch_kept_even_when_it_alone_is_over_budget(tmp_path: Path) -> None:
    path = tmp_path / "o.sqlite3"
    events = [event(n) for n in range(6)]
    with Outbox(path) as box:
        box.append(events)
        batch = box.next_batch(DEVICE)
        assert batch is not None
    with Outbox(path, max_rows=2) as box:  # the budget shrank (new config) while in flight
        late = event(99, "visit.dwell")
        box.append([late])
        assert stored_ids(box) == [e["id"] for e in events]  # only the newcomer could go
        assert box.status()["dropped"] == {"visit.dwell": 1}
        assert box.ack(batch.batch_id) == 6
        assert box.pending() == 0


# -- byte budget -----------------------------------------------------------------------


def test_byte_budget_drops_low_value_first_then_oldest(tmp_path: Path) -> None:
    small = [event(n) for n in range(4)]
    unit = size(small[0])
    assert all(size(e) == unit for e in small)
    big_dwell = event(9, "visit.dwell", dwell_ms=1, note="z" * (2 * unit))
    with Outbox(tmp_path / "o.sqlite3", max_bytes=4 * unit) as box:
        box.append(small[:2])
        box.append([big_dwell])  # 2 units + the big one: over
        assert stored_ids(box) == [e["id"] for e in small[:2]]
        assert box.status()["dropped"] == {"visit.dwell": 1}
        box.append(small[2:])  # exactly 4 units: within
        assert box.status()["dropped"] == {"visit.dwell": 1}
        extra = event(5)
        assert size(extra) == unit
        box.append([extra])  # 5 units: the oldest (only one) goes
        assert stored_ids(box) == [e["id"] for e in small[1:]] + [extra["id"]]
        assert box.status()["dropped"] == {"visit.dwell": 1, "visit.enter": 1}
        assert box.counter("stored_bytes") == 4 * unit
        assert (box.pending(), box.counter("stored_bytes")) == real_totals(box)


def test_redelivered_event_in_a_mixed_append_does_not_inflate_stored_bytes(
    tmp_path: Path,
) -> None:
    first, second, third = event(1), event(2), event(3)
    unit = size(first)
    with Outbox(tmp_path / "o.sqlite3", max_bytes=3 * unit) as box:
        box.append([first, second])
        assert box.append([first, third]) == 1  # `first` again (a redelivery) and a new one
        assert box.counter("stored_bytes") == real_totals(box)[1] == 3 * unit
        assert box.status()["dropped"] == {}  # 3 units fit a 3-unit budget
        assert stored_ids(box) == [first["id"], second["id"], third["id"]]


# -- persistence -----------------------------------------------------------------------


def test_budget_and_counters_survive_reopen(tmp_path: Path) -> None:
    path = tmp_path / "state" / "o.sqlite3"
    with Outbox(path, max_rows=3) as box:
        box.append([event(0, "visit.dwell"), event(1), event(2), event(3, "device.health")])
        box.append([event(4)])
        assert box.status()["dropped"] == {"visit.dwell": 1, "device.health": 1}
        kept = stored_ids(box)
    with Outbox(path, max_rows=3) as box:
        status = box.status()
        assert status["dropped"] == {"visit.dwell": 1, "device.health": 1}
        assert status["pending"] == 3
        assert stored_ids(box) == kept
        box.append([event(5, "visit.dwell"), event(6)])
        assert box.status()["dropped"] == {
            "visit.dwell": 2,
            "device.health": 1,
            "visit.enter": 1,
        }
        assert box.counter("accepted_total") == 7
        assert (box.pending(), box.counter("stored_bytes")) == real_totals(box)
    with Outbox(path) as box:  # no budget now: counters stay, nothing more is dropped
        box.append([event(n) for n in range(10, 20)])
        assert box.status()["dropped"]["visit.enter"] == 1
        assert box.pending() == 13


# -- a corrupt file ----------------------------------------------------------------------


ASIDE = re.compile(r"^o\.sqlite3\.corrupt-\d{8}T\d{6}$")


def test_garbage_file_is_moved_aside_and_a_fresh_outbox_opens(tmp_path: Path) -> None:
    path = tmp_path / "o.sqlite3"
    garbage = b"\x00\xffnot sqlite at all\x13\x37" * 500
    path.write_bytes(garbage)
    with Outbox(path) as box:
        moved = box.recovered_from
        assert moved is not None
        assert moved.parent == tmp_path
        assert ASIDE.match(moved.name), moved.name
        assert moved.read_bytes() == garbage  # kept, untouched, for forensics
        assert box.status()["pending"] == 0
        assert box.status()["db_bytes"] < len(garbage) * 10  # the moved file is not counted
        ev = event(1)
        assert box.append([ev]) == 1
        assert stored_ids(box) == [ev["id"]]
    with Outbox(path) as box:  # the fresh file is a healthy outbox: nothing to recover
        assert box.recovered_from is None
        assert box.pending() == 1
    assert moved.exists()


def test_damaged_pages_are_detected_and_moved_aside(tmp_path: Path) -> None:
    path = tmp_path / "o.sqlite3"
    with Outbox(path) as box:
        box.append([event(n, note=os.urandom(100).hex()) for n in range(1000)])  # incompressible
    data = bytearray(path.read_bytes())
    page = 4096
    assert len(data) > 20 * page
    data[3 * page : 20 * page] = b"\xa5" * (17 * page)  # the header is fine, pages are not
    path.write_bytes(bytes(data))
    with Outbox(path) as box:
        assert box.recovered_from is not None
        assert box.recovered_from.read_bytes() == bytes(data)
        assert box.pending() == 0
        assert box.append([event(1)]) == 1


def test_moving_aside_never_overwrites_an_earlier_copy(tmp_path: Path) -> None:
    path = tmp_path / "o.sqlite3"
    earlier = b"an earlier corrupt copy"
    now = time.time()
    # Copies already there under the names the next few seconds would get.
    for ahead in range(4):
        stamp = time.strftime("%Y%m%dT%H%M%S", time.localtime(now + ahead))
        (tmp_path / f"o.sqlite3.corrupt-{stamp}").write_bytes(earlier)
    path.write_bytes(b"garbage" * 1000)
    with Outbox(path) as box:
        assert box.recovered_from is not None
        moved = box.recovered_from
    assert moved.read_bytes() == b"garbage" * 1000
    asides = sorted(tmp_path.glob("o.sqlite3.corrupt-*"))
    assert sum(p.read_bytes() == earlier for p in asides) == 4


# -- a full disk -------------------------------------------------------------------------


def test_full_disk_raises_storage_error_and_writes_nothing(tmp_path: Path) -> None:
    path = tmp_path / "o.sqlite3"
    with Outbox(path, max_rows=1000) as box:
        first = [event(n) for n in range(50)]
        box.append(first)
        before = (
            stored_ids(box),
            box.status(),
            box.counter("accepted_total"),
            box.counter("stored_bytes"),
        )
        pages = int(box.db.execute("PRAGMA page_count").fetchone()[0])
        box.db.execute(f"PRAGMA max_page_count={pages + 1}")
        refused = [event(100 + n, note="x" * 500) for n in range(200)]
        with pytest.raises(StorageError) as info:
            box.append(refused)
        message = str(info.value)
        assert message == "outbox cannot write: database or disk is full"
        assert "\n" not in message
        assert isinstance(info.value.__cause__, sqlite3.OperationalError)
        assert not box.db.conn.in_transaction  # rolled back, the connection is usable
        after = (
            stored_ids(box),
            box.status(),
            box.counter("accepted_total"),
            box.counter("stored_bytes"),
        )
        assert after == before
        with pytest.raises(StorageError):  # still full: refused again, still nothing half-done
            box.append(refused[:100])
        assert stored_ids(box) == before[0]

        box.db.execute(f"PRAGMA max_page_count={NO_LIMIT_PAGES}")  # space again
        assert box.append(refused) == 200
        assert stored_ids(box) == [e["id"] for e in first + refused]
        assert box.counter("accepted_total") == 250
        assert (box.pending(), box.counter("stored_bytes")) == real_totals(box)
    with Outbox(path) as box:  # and it is all on disk
        assert box.pending() == 250
        assert box.recovered_from is None


# -- a big backlog -----------------------------------------------------------------------


def test_next_batch_searches_an_index_instead_of_scanning_the_backlog(tmp_path: Path) -> None:
    with Outbox(tmp_path / "o.sqlite3") as box:
        box.append([event(n) for n in range(2000)])
        statements: list[str] = []
        box.db.conn.set_trace_callback(statements.append)
        first = box.next_batch(DEVICE)  # a new batch
        assert first is not None
        assert box.next_batch(DEVICE) == first  # the resend
        box.ack(first.batch_id)
        assert box.next_batch(DEVICE) is not None  # the next one
        box.db.conn.set_trace_callback(None)
        plans = {
            sql: [row[3] for row in box.db.execute("EXPLAIN QUERY PLAN " + sql).fetchall()]
            for sql in statements
            if sql.lstrip().upper().startswith("SELECT")
        }
        assert plans
        scans = {sql: plan for sql, plan in plans.items() if any("SCAN events" in p for p in plan)}
        assert scans == {}


def test_a_damaged_batch_is_set_aside_counted_and_the_queue_goes_on(tmp_path: Path) -> None:
    """Damage SQLite's checks do not see (a batch's compressed body): that batch is
    deleted and counted, and the ones after it still go."""
    first, second = [event(n) for n in range(3)], [event(10 + n) for n in range(2)]
    with Outbox(tmp_path / "o.sqlite3") as box:
        box.append(first)
        box.append(second)
        box.db.execute(
            "UPDATE batches SET body = ? WHERE seq = (SELECT MIN(seq) FROM batches)",
            [b"\x78\x9cnot zlib"],
        )
        assert stored_ids(box) == [e["id"] for e in second]  # export leaves it out
        batch = box.next_batch(DEVICE)
        assert batch is not None and batch.event_ids == tuple(e["id"] for e in second)
        assert box.status()["dropped"] == {"unreadable": 3}
        assert box.pending() == 2
        assert box.ack(batch.batch_id) == 2 and box.next_batch(DEVICE) is None
