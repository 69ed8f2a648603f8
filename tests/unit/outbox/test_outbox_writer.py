"""EventWriter on a real outbox: grouped commits, a full disk held in memory, commit_now.

The writer commits on the outbox thread (OutboxThread); the tests read what is on
disk through a second connection of their own (WAL: readers see only committed
rows). A full disk is SQLite's own SQLITE_FULL, made with `PRAGMA max_page_count`
on the writer's connection. Test events carry a padding field bigger than a page,
so every commit needs new pages and fails for certain while the disk is "full".
"""

from __future__ import annotations

import asyncio
import json
import os
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from edge.ids import new_id
from edge.outbox.store import Outbox
from edge.outbox.worker import OutboxThread
from edge.outbox.writer import EventWriter

NO_LIMIT_PAGES = 1_073_741_823


def pad() -> str:
    """Random hex (stored compressed, about half its length): each stored event needs
    fresh pages of its own."""
    return os.urandom(1500).hex()


def event(n: int, type_: str = "visit.enter") -> dict[str, Any]:
    return {
        "id": new_id(),
        "type": type_,
        "ts": 1_700_000_000_000 + n,
        "clock_synced": True,
        "visitor": f"ibeacon:f7826da6-4fa2-4e98-8024-bc5b71e0893e:1:{n}",
        "visit_id": f"visit-{n}",
        "zone": "near",
        "rssi": -60,
        "pad": pad(),
    }


def ids(events: list[dict[str, Any]]) -> list[str]:
    return [e["id"] for e in events]


def stored_ids(box: Outbox) -> list[str]:
    return [json.loads(body)["id"] for body in box.events()]


def disk_full(box: Outbox) -> None:
    pages = int(box.db.execute("PRAGMA page_count").fetchone()[0])
    box.db.execute(f"PRAGMA max_page_count={pages}")


def disk_has_room(box: Outbox) -> None:
    box.db.execute(f"PRAGMA max_page_count={NO_LIMIT_PAGES}")


def count_transactions(box: Outbox) -> list[str]:
    """Statements that open a write transaction on the outbox's connection, as they run."""
    begins: list[str] = []

    def trace(sql: str) -> None:
        if sql.lstrip().upper().startswith("BEGIN"):
            begins.append(sql)

    box.db.conn.set_trace_callback(trace)
    return begins


def run(scenario: Callable[[OutboxThread, Outbox], Any], path: Path) -> None:
    """Run `scenario(thread, reader)` on a fresh loop that records any error in a callback:
    `thread` is the writer's outbox, `reader` a connection of the test's own."""

    async def main() -> None:
        errors: list[dict[str, Any]] = []
        asyncio.get_running_loop().set_exception_handler(lambda _loop, ctx: errors.append(ctx))
        async with OutboxThread(path) as thread:
            with Outbox(path) as reader:
                await scenario(thread, reader)
        assert errors == []  # nothing ever escaped into the loop (the screen's side)

    asyncio.run(main())


async def until(check: Callable[[], bool], seconds: float = 5.0) -> None:
    """Wait for a commit made on the outbox thread (at most `seconds`)."""
    deadline = time.monotonic() + seconds
    while not check():
        assert time.monotonic() < deadline, "the writer did not get there in time"
        await asyncio.sleep(0.005)


# -- grouping ----------------------------------------------------------------------------


def test_events_are_committed_within_group_s_and_not_before(tmp_path: Path) -> None:
    async def scenario(thread: OutboxThread, box: Outbox) -> None:
        written: list[tuple[float, int]] = []
        writer = EventWriter(
            thread,
            group_s=0.2,
            group_max=100,
            on_written=lambda: written.append((time.perf_counter(), box.pending())),
        )
        events = [event(n) for n in range(10)]
        start = time.perf_counter()
        for ev in events:
            writer.add(ev)
        assert (box.pending(), writer.held) == (0, 10)
        await asyncio.sleep(0.05)
        assert box.pending() == 0  # the group is still open
        await asyncio.sleep(0.5)
        assert (box.pending(), writer.held) == (10, 0)
        assert len(written) == 1
        at, pending_then = written[0]
        assert 0.18 <= at - start <= 0.45
        assert pending_then == 10  # on_written runs after the commit
        assert stored_ids(box) == ids(events)

    run(scenario, tmp_path / "o.sqlite3")


def test_one_transaction_per_group(tmp_path: Path) -> None:
    async def scenario(thread: OutboxThread, box: Outbox) -> None:
        begins = await thread.run(count_transactions)
        calls: list[int] = []
        writer = EventWriter(
            thread, group_s=1.0, group_max=100, on_written=lambda: calls.append(box.pending())
        )
        events = [event(n) for n in range(250)]
        for ev in events:
            writer.add(ev)
        await until(lambda: box.pending() == 200)  # two full groups went at once
        assert len(begins) == 2
        await until(lambda: len(calls) == 3)  # the last 50 when the timer fires
        assert len(begins) == 3
        assert calls == [100, 200, 250]
        assert box.counter("accepted_total") == 250
        assert stored_ids(box) == ids(events)
        await asyncio.sleep(0.2)  # an idle writer does not write
        assert len(begins) == 3

    run(scenario, tmp_path / "o.sqlite3")


def test_group_max_flushes_immediately(tmp_path: Path) -> None:
    async def scenario(thread: OutboxThread, box: Outbox) -> None:
        begins = await thread.run(count_transactions)
        writer = EventWriter(thread, group_s=30.0, group_max=20)
        for n in range(19):
            writer.add(event(n))
        await asyncio.sleep(0.05)
        assert (box.pending(), writer.held, len(begins)) == (0, 19, 0)
        writer.add(event(19))  # the 20th: no waiting for the 30 s timer
        await until(lambda: box.pending() == 20 and writer.held == 0, 1.0)
        assert (box.pending(), writer.held, len(begins)) == (20, 0, 1)
        writer.add(event(20))
        assert await writer.flush()  # the daemon's shutdown path
        assert (box.pending(), writer.held, len(begins)) == (21, 0, 2)
        assert await writer.flush()  # nothing queued: no transaction
        assert len(begins) == 2

    run(scenario, tmp_path / "o.sqlite3")


# -- a full disk -------------------------------------------------------------------------


def test_full_disk_holds_events_in_memory_and_the_retry_commits_them_once(
    tmp_path: Path,
) -> None:
    async def scenario(thread: OutboxThread, box: Outbox) -> None:
        before = [event(n) for n in range(5)]
        await thread.run(Outbox.append, before)
        await thread.run(disk_full)
        written: list[int] = []
        writer = EventWriter(
            thread,
            group_s=0.01,
            group_max=100,
            retry_s=0.2,
            on_written=lambda: written.append(box.pending()),
        )
        events = [event(100 + n) for n in range(250)]
        for ev in events:
            writer.add(ev)  # never raises, even when the 100th fails to commit
        await until(lambda: not writer.storage_ok)
        assert writer.held == 250
        assert box.pending() == 5
        await asyncio.sleep(0.5)  # a couple of retries, still full
        assert (writer.storage_ok, writer.held, box.pending()) == (False, 250, 5)
        assert written == []
        writer.add(event(999, "visit.dwell"))  # still accepted while full
        assert writer.held == 251
        await thread.run(disk_has_room)
        await asyncio.sleep(0.5)  # the next retry, without any new event
        assert writer.storage_ok
        assert writer.held == 0
        assert written == [256]
        stored = stored_ids(box)
        assert len(stored) == len(set(stored)) == 256  # none lost, none twice
        assert stored[:255] == ids(before) + ids(events)
        assert box.counter("accepted_total") == 256
        assert box.status()["dropped"] == {}

    run(scenario, tmp_path / "o.sqlite3")


def test_memory_bound_sheds_low_value_first_and_counts_land_in_the_outbox(
    tmp_path: Path,
) -> None:
    async def scenario(thread: OutboxThread, box: Outbox) -> None:
        await thread.run(disk_full)
        writer = EventWriter(thread, group_s=0.01, group_max=100, memory_max=100, retry_s=0.2)
        dwells = [event(n, "visit.dwell") for n in range(10)]
        healths = [event(10 + n, "device.health") for n in range(5)]
        enters = [event(20 + n) for n in range(105)]
        for ev in dwells + healths + enters[:95]:
            writer.add(ev)
        # 110 for room for 100: the ten oldest low-value events (all the dwells) went.
        assert writer.held == 100
        assert writer.dropped_in_memory == {"visit.dwell": 10}
        for ev in enters[95:]:
            writer.add(ev)
        # Ten more: the five health events, then the five oldest of any kind.
        assert writer.held == 100
        assert writer.dropped_in_memory == {
            "visit.dwell": 10,
            "device.health": 5,
            "visit.enter": 5,
        }
        await asyncio.sleep(0.3)
        assert box.pending() == 0 and box.status()["dropped"] == {}
        await thread.run(disk_has_room)
        await asyncio.sleep(0.4)
        assert writer.storage_ok and writer.held == 0
        assert stored_ids(box) == ids(enters[5:])
        assert box.status()["dropped"] == {
            "device.health": 5,
            "visit.dwell": 10,
            "visit.enter": 5,
        }
        assert writer.dropped_in_memory == {}
        writer.add(event(500))
        assert await writer.flush()
        # Counted once: a later commit does not add them again.
        assert box.status()["dropped"]["visit.dwell"] == 10

    run(scenario, tmp_path / "o.sqlite3")


# -- commit_now --------------------------------------------------------------------------


def test_commit_now_commits_after_what_is_queued(tmp_path: Path) -> None:
    async def scenario(thread: OutboxThread, box: Outbox) -> None:
        begins = await thread.run(count_transactions)
        written: list[int] = []
        writer = EventWriter(thread, group_s=30.0, on_written=lambda: written.append(box.pending()))
        queued = [event(n) for n in range(3)]
        for ev in queued:
            writer.add(ev)
        checkin = event(50, "checkin")
        assert await writer.commit_now([checkin]) is True
        assert stored_ids(box) == [*ids(queued), checkin["id"]]  # order kept
        assert writer.held == 0
        assert len(begins) == 2
        assert written == [3, 4]

    run(scenario, tmp_path / "o.sqlite3")


def test_commit_now_refuses_on_a_full_disk_and_does_not_keep_the_events(
    tmp_path: Path,
) -> None:
    async def scenario(thread: OutboxThread, box: Outbox) -> None:
        written: list[int] = []
        writer = EventWriter(
            thread,
            group_s=0.01,
            retry_s=0.2,
            on_written=lambda: written.append(box.pending()),
        )
        await thread.run(disk_full)
        checkin = event(1, "checkin")
        assert await writer.commit_now([checkin]) is False  # nothing queued, the write failed
        assert writer.held == 0
        assert not writer.storage_ok
        queued = [event(10 + n) for n in range(3)]
        for ev in queued:
            writer.add(ev)
        other = event(2, "checkin")
        assert await writer.commit_now([other]) is False  # the queued ones cannot go first
        assert writer.held == 3  # only the writer's own events are held
        assert written == []
        await thread.run(disk_has_room)
        await asyncio.sleep(0.4)  # the retry commits the held events, not the refused
        assert stored_ids(box) == ids(queued)
        assert written == [3]
        # The broker redelivers both check-ins: each is stored exactly once.
        assert await writer.commit_now([checkin]) is True
        assert await writer.commit_now([other]) is True
        assert await writer.commit_now([other]) is True  # a second redelivery changes nothing
        assert stored_ids(box) == [*ids(queued), checkin["id"], other["id"]]
        assert written == [3, 4, 5, 5]

    run(scenario, tmp_path / "o.sqlite3")


def test_commits_never_run_on_the_event_loop_thread(tmp_path: Path) -> None:
    """Every SQLite write (and its fsync) happens on the outbox thread, never the loop's."""

    async def scenario(thread: OutboxThread, box: Outbox) -> None:
        threads: list[str] = []

        def trace(_sql: str) -> None:
            threads.append(threading.current_thread().name)

        def watch(o: Outbox) -> None:
            o.db.conn.set_trace_callback(trace)

        await thread.run(watch)
        writer = EventWriter(thread, group_s=0.01, group_max=5)
        for n in range(12):
            writer.add(event(n))
        assert await writer.commit_now([event(99, "checkin")])
        assert await writer.flush()
        assert box.pending() == 13
        loop_thread = threading.current_thread().name
        assert threads and loop_thread not in threads
        assert {t.split("_")[0] for t in threads} == {"edge-outbox"}

    run(scenario, tmp_path / "o.sqlite3")
