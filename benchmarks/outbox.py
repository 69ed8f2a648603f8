"""The outbox: durable appends, draining a big backlog, bytes on disk.

1. Durable appends/s, in temp dirs on one disk, same run, same events:
   - ours the daemon's way: `Outbox.append` of 100 events per transaction
     (what EventWriter does with group_max=100), a persistent rollback journal +
     synchronous=FULL (a batch per row, compressed: docs/outbox.md);
   - ours one event per transaction (the like-for-like figure);
   - persist-queue's `SQLiteAckQueue.put`, WAL + synchronous=FULL, JSON
     serializer. It has no batch put: every put is its own transaction and
     fsync (auto_commit cannot be turned off for the ack queue).
   Rounds alternate between the three and the median is reported.
2. Drain of a 1,000,000-event backlog: pre-filled in a child process (big
   transactions, so the fill's memory is not ours), then the daemon in this
   process (headless, an empty replay trace, stop_when_drained) pushes it to
   a real Mosquitto with the central simulator acking from its own process.
   Figures: events/s, and this process's RSS at 10 %, 50 % and 90 % progress.
3. Bytes per stored event: the database file (its events compressed).

The last line printed is one JSON object.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any, cast

os.environ.setdefault("SDL_VIDEODRIVER", "dummy")
os.environ.setdefault("PYGAME_HIDE_SUPPORT_PROMPT", "1")

import persistqueue
import persistqueue.serializers.json as pq_json
from _central import central_sim

from edge import config as config_mod
from edge.app import Device
from edge.ids import new_id
from edge.outbox.store import Outbox
from edge.sim.broker import Mosquitto
from edge.sim.replay import ReplaySource

GROUP = 100  # EventWriter's group_max default
GROUPED_EVENTS = 20_000
SINGLE_EVENTS = 2_000
ROUNDS = 3
DRAIN_EVENTS = 1_000_000
FILL_CHUNK = 50_000
BATCH_MAX_EVENTS = 500
BATCH_MAX_BYTES = 262_144
MARKS = (10, 50, 90)
Event = dict[str, Any]


def make_events(count: int) -> list[Event]:
    """Realistic visit events, as the daemon writes them (ids are fresh UUIDv7s)."""
    now = int(time.time() * 1000)
    return [
        {
            "id": new_id(),
            "type": "visit.enter",
            "ts": now + i,
            "clock_synced": True,
            "visitor": f"ibeacon:f7826da6-4fa2-4e98-8024-bc5b71e0893e:1:{i % 500}",
            "visit_id": new_id(),
            "zone": "near",
            "rssi": -60 - i % 30,
        }
        for i in range(count)
    ]


def pragma(conn: sqlite3.Connection, name: str) -> str:
    return str(conn.execute(f"PRAGMA {name}").fetchone()[0])


def durability(conn: sqlite3.Connection) -> str:
    sync = {"0": "OFF", "1": "NORMAL", "2": "FULL", "3": "EXTRA"}
    return (
        f"journal_mode={pragma(conn, 'journal_mode')}, "
        f"synchronous={sync.get(pragma(conn, 'synchronous'), '?')}"
    )


def ours(folder: Path, events: list[Event], group: int) -> tuple[float, str]:
    """Appends/s into an Outbox with the daemon's default budgets, `group` events a transaction."""
    with Outbox(folder / "outbox.sqlite3", max_rows=1_000_000, max_bytes=512 * 1024**2) as box:
        how = durability(box.db.conn)
        start = time.perf_counter()
        for i in range(0, len(events), group):
            box.append(events[i : i + group])
        elapsed = time.perf_counter() - start
        assert box.pending() == len(events)
    return len(events) / elapsed, how


def theirs(folder: Path, events: list[Event]) -> tuple[float, str]:
    """Puts/s into persist-queue's SQLiteAckQueue at the same durability as ours."""
    queue = persistqueue.SQLiteAckQueue(
        str(folder), multithreading=False, auto_commit=True, serializer=pq_json
    )
    try:
        # No option for it: set on its (only) connection. put() writes through _putter.
        conn = cast(sqlite3.Connection, queue._putter)
        conn.execute("PRAGMA synchronous=FULL")
        how = durability(conn)
        start = time.perf_counter()
        for event in events:
            queue.put(event)
        elapsed = time.perf_counter() - start
        assert queue.qsize() == len(events)
    finally:
        queue.close()
    return len(events) / elapsed, how


def sync_latency_ms(folder: Path, count: int = 200) -> float:
    """Median time of a 4 KiB write + fdatasync here (what SQLite pays per FULL commit)."""
    times = []
    fd = os.open(folder / "probe", os.O_WRONLY | os.O_CREAT, 0o600)
    try:
        for _ in range(count):
            start = time.perf_counter()
            os.write(fd, b"\0" * 4096)
            os.fdatasync(fd)
            times.append(time.perf_counter() - start)
    finally:
        os.close(fd)
    return statistics.median(times) * 1000


def appends() -> dict[str, Any]:
    runs: dict[str, list[float]] = {"grouped": [], "single": [], "persist_queue": []}
    how: dict[str, str] = {}
    with tempfile.TemporaryDirectory(prefix="omo-bench-outbox-") as tmp_name:
        tmp = Path(tmp_name)
        for r in range(ROUNDS):
            cases: list[tuple[str, Callable[[Path], tuple[float, str]]]] = [
                ("grouped", lambda d: ours(d, make_events(GROUPED_EVENTS), GROUP)),
                ("single", lambda d: ours(d, make_events(SINGLE_EVENTS), 1)),
                ("persist_queue", lambda d: theirs(d, make_events(SINGLE_EVENTS))),
            ]
            for name, case in cases[r % 3 :] + cases[: r % 3]:  # rotate the order
                folder = tmp / f"{name}-{r}"
                folder.mkdir()
                rate, how[name] = case(folder)
                runs[name].append(rate)
        device = os.stat(tmp).st_dev
        sync_ms = sync_latency_ms(tmp)
    result = {name: statistics.median(rates) for name, rates in runs.items()}
    result["sync_ms"] = sync_ms
    print(f"appends: {ROUNDS} rounds, order rotated, median; temp dirs on device {device}")
    print(
        f"  this disk: 4 KiB write + fdatasync = {sync_ms:.3f} ms median (an SD card: ~1-20 ms;"
        " the slower the sync, the more grouping wins)"
    )
    print(
        f"  ours, {GROUP} events/transaction ({GROUPED_EVENTS} events):  "
        f"{result['grouped']:>9,.0f} events/s  [{how['grouped']}]"
    )
    print(
        f"  ours, 1 event/transaction ({SINGLE_EVENTS} events):      "
        f"{result['single']:>9,.0f} events/s  [{how['single']}]"
    )
    print(
        f"  persist-queue SQLiteAckQueue.put ({SINGLE_EVENTS} events): "
        f"{result['persist_queue']:>9,.0f} events/s  [{how['persist_queue']}; JSON serializer;"
        " one transaction + fsync per put, it has no batch put]"
    )
    print(
        f"  ratio ours grouped / persist-queue: {result['grouped'] / result['persist_queue']:.1f}x;"
        f" like for like (1 per transaction): {result['single'] / result['persist_queue']:.2f}x"
    )
    print(
        "  ours: a rollback journal (three fsyncs a transaction: WAL's -shm costs the SD card"
        " more, docs/deployment.md), events compressed, running counters"
    )
    return result


# -- drain ---------------------------------------------------------------------------


def fill(path: Path, count: int) -> None:
    """(Child process) `count` events in transactions of FILL_CHUNK."""
    with Outbox(path) as box:
        done = 0
        while done < count:
            n = min(FILL_CHUNK, count - done)
            box.append(make_events(n))
            done += n


def rss_kb(field: str = "VmRSS") -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1])
    return 0


class Sampler(threading.Thread):
    """Polls the outbox's row count (own connection) and this process's RSS."""

    def __init__(self, db: Path, total: int) -> None:
        super().__init__(name="drain-sampler", daemon=True)
        self.db, self.total = db, total
        self.stop = threading.Event()
        self.at: dict[int, tuple[float, int, int]] = {}  # mark: (time, VmRSS kB, VmHWM kB)
        self.first_ack: float | None = None
        self.drained: float | None = None
        self.peak_kb = 0

    def run(self) -> None:
        conn = sqlite3.connect(f"file:{self.db}?mode=ro", uri=True, timeout=10)
        try:
            while not self.stop.is_set():
                rss = rss_kb()
                self.peak_kb = max(self.peak_kb, rss)
                row = conn.execute(
                    "SELECT value FROM counters WHERE name = 'stored_rows'"
                ).fetchone()
                left = int(row[0]) if row else self.total
                now = time.perf_counter()
                if left < self.total and self.first_ack is None:
                    self.first_ack = now
                progress = 100 * (self.total - left) / self.total
                for mark in MARKS:
                    if progress >= mark and mark not in self.at:
                        self.at[mark] = (now, rss, rss_kb("VmHWM"))
                if left == 0:
                    self.drained = now
                    return
                time.sleep(0.05)
        finally:
            conn.close()


def db_bytes(path: Path) -> int:
    """The database file (the journal holds only the last transaction's old pages)."""
    return path.stat().st_size


def drain() -> dict[str, Any]:
    with tempfile.TemporaryDirectory(prefix="omo-bench-drain-") as tmp_name:
        tmp = Path(tmp_name)
        db = tmp / "state" / "outbox.sqlite3"
        start = time.perf_counter()
        subprocess.run([sys.executable, __file__, "--fill", str(db), str(DRAIN_EVENTS)], check=True)
        fill_s = time.perf_counter() - start
        size = db_bytes(db)
        print(
            f"drain: pre-filled {DRAIN_EVENTS:,} events in {fill_s:.1f} s "
            f"(child process, {FILL_CHUNK:,} per transaction); "
            f"{size / 1024**2:.1f} MiB = {size / DRAIN_EVENTS:.0f} bytes/event (database file)"
        )
        empty = tmp / "empty.jsonl"
        empty.write_text("")
        with Mosquitto() as broker, central_sim(broker.port) as totals:
            cfg = config_mod.from_mapping(
                {
                    "device": {"store_id": "bench", "device_id": "bench-1"},
                    "mqtt": {"host": "127.0.0.1", "port": broker.port},
                    "presence": {"source": f"replay:{empty}", "replay_speed": 0},
                    "display": {"headless": True, "width": 1920, "height": 1080},
                    "storage": {"path": str(db)},
                    "sync": {
                        "batch_max_events": BATCH_MAX_EVENTS,
                        "batch_max_bytes": BATCH_MAX_BYTES,
                    },
                    "health": {"interval_s": 0},
                }
            )
            source = ReplaySource(empty, speed=0)
            daemon = Device(cfg, source, source_done=lambda: source.done)
            with contextlib.suppress(OSError):
                Path("/proc/self/clear_refs").write_text("5")  # reset VmHWM to now
            rss_before = rss_kb()
            sampler = Sampler(db, DRAIN_EVENTS)
            sampler.start()
            start = time.perf_counter()
            stats = daemon.run(duration_s=1800, stop_when_drained=True)
            run_s = time.perf_counter() - start
            sampler.stop.set()
            sampler.join(10)
    drained_at = sampler.drained or (start + run_s)
    drain_s = drained_at - start
    rate = stats.events_synced / drain_s
    mb = {m: sampler.at[m][1] / 1024 for m in MARKS if m in sampler.at}
    hwm = {m: sampler.at[m][2] / 1024 for m in MARKS if m in sampler.at}
    first = (sampler.first_ack or start) - start
    print(
        f"  daemon in-process, headless, empty replay trace; [sync] batch_max_events="
        f"{BATCH_MAX_EVENTS}, batch_max_bytes={BATCH_MAX_BYTES}; one batch in flight"
    )
    print(
        f"  synced {stats.events_synced:,} events in {drain_s:.1f} s from daemon start "
        f"(first ack after {first:.1f} s) = {rate:,.0f} events/s; run() returned after "
        f"{run_s:.1f} s; pending at the end {stats.events_pending}"
    )
    print(
        f"  central stored {totals.get('events')} events, {totals.get('duplicates')} duplicates,"
        f" {totals.get('batches')} batches"
    )
    print(f"  RSS before the daemon started: {rss_before / 1024:.1f} MB")
    for m in MARKS:
        if m in mb:
            print(
                f"  RSS at {m:>2} %: {mb[m]:.1f} MB (peak so far since the drain began "
                f"{hwm[m]:.1f} MB), at {sampler.at[m][0] - start:.1f} s"
            )
    print(f"  peak RSS sampled during the drain: {sampler.peak_kb / 1024:.1f} MB")
    return {
        "drain_events_per_s": round(rate),
        "drain_s": round(drain_s, 1),
        "drain_events": stats.events_synced,
        "central_events": totals.get("events"),
        **{f"drain_rss_mb_{m}": round(v, 1) for m, v in mb.items()},
        "drain_peak_rss_mb": round(sampler.peak_kb / 1024, 1),
        **{f"drain_s_at_{m}": round(sampler.at[m][0] - start, 1) for m in MARKS if m in sampler.at},
        "db_bytes_per_event": round(size / DRAIN_EVENTS),
        "fill_s": round(fill_s, 1),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--fill", nargs=2, metavar=("PATH", "COUNT"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.fill:
        fill(Path(args.fill[0]), int(args.fill[1]))
        return
    rates = appends()
    drained = drain()
    print(
        json.dumps(
            {
                "appends_per_s": round(rates["grouped"]),
                "appends_per_s_one_per_txn": round(rates["single"]),
                "persist_queue_appends_per_s": round(rates["persist_queue"]),
                "ratio_vs_persist_queue": round(rates["grouped"] / rates["persist_queue"], 2),
                "fdatasync_ms": round(rates["sync_ms"], 3),
                **drained,
            }
        )
    )


if __name__ == "__main__":
    main()
