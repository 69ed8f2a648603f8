"""The whole loop as fast as it goes: replay → presence → outbox → decide → screen → sync.

A real Mosquitto and the central simulator (in its own process) on loopback;
the daemon in this process, headless.

1. Adverts: the demo trace five times over, replayed with no waiting, until
   every event is acknowledged. Figure: adverts/s through the daemon, against
   a named baseline measured here on the same file: `omo-edge scan`'s path
   (parse + decode + track, no MQTT, SQLite or screen).
2. Sync: an outbox holding 20,000 events drained to central. Figure: events/s
   from first batch to last acknowledgement.

Plus the daemon's peak RSS (this process; the broker and central are others).
"""

from __future__ import annotations

import json
import os
import resource
import tempfile
import time
from collections.abc import AsyncIterator
from dataclasses import replace
from pathlib import Path

os.environ.setdefault("SDL_VIDEODRIVER", "dummy")
os.environ.setdefault("PYGAME_HIDE_SUPPORT_PROMPT", "1")

from _central import central_sim

from edge import config as config_mod
from edge.app import Device, Stats
from edge.ids import new_id
from edge.outbox.store import Outbox
from edge.presence.advert import Advert
from edge.presence.pipeline import PresencePipeline
from edge.presence.trace import format_advert, read_trace
from edge.presence.tracker import TrackerParams
from edge.sim.broker import Mosquitto
from edge.sim.demo import DEMO_TRACE
from edge.sim.replay import ReplaySource

REPEATS = 5
SYNC_EVENTS = 20_000


def build_trace(path: Path) -> int:
    """The demo trace REPEATS times back to back (times shifted, so visits recur)."""
    adverts = [a for a in read_trace(DEMO_TRACE) if not isinstance(a, Exception)]
    span = adverts[-1].t + 30.0
    count = 0
    with path.open("w") as out:
        for r in range(REPEATS):
            for a in adverts:
                out.write(format_advert(replace(a, t=a.t + r * span), a.address) + "\n")
                count += 1
    return count


def bare_pipeline(path: Path) -> float:
    """Baseline: adverts/s of parse + decode + track alone (scan's path), no I/O but the file."""
    pipeline = PresencePipeline(TrackerParams(), new_id)
    start = time.perf_counter()
    count = 0
    for a in read_trace(path):
        if not isinstance(a, Exception):
            pipeline.feed(a)
            count += 1
    return count / (time.perf_counter() - start)


class TimedReplay(ReplaySource):
    """Notes when the first advert enters the daemon and when the last one has."""

    first = last = 0.0

    async def adverts(self) -> AsyncIterator[Advert]:
        self.first = time.perf_counter()
        async for advert in super().adverts():
            yield advert
        self.last = time.perf_counter()


def run_daemon(port: int, trace: Path, db: Path) -> tuple[Stats, float, float]:
    """Stats, seconds from first to last advert, seconds from start to fully synced."""
    cfg = config_mod.from_mapping(
        {
            "device": {"store_id": "bench", "device_id": "bench-1"},
            "mqtt": {"host": "127.0.0.1", "port": port},
            "presence": {"source": f"replay:{trace}", "replay_speed": 0},
            "display": {"headless": True, "width": 1920, "height": 1080},
            "storage": {"path": str(db), "hold_s": 0},
        }
    )
    source = TimedReplay(trace, speed=0)
    daemon = Device(cfg, source, source_done=lambda: source.done)
    start = time.perf_counter()
    stats = daemon.run(duration_s=600, stop_when_drained=True)
    return stats, source.last - source.first, time.perf_counter() - start


def fill_outbox(db: Path, count: int) -> None:
    with Outbox(db) as outbox:
        outbox.append(
            {
                "id": new_id(),
                "type": "visit.dwell",
                "ts": int(time.time() * 1000),
                "clock_synced": True,
                "visitor": f"ibeacon:bench:{i % 50}",
                "visit_id": new_id(),
                "zone": "near",
                "rssi": -60,
            }
            for i in range(count)
        )


def main() -> None:
    with tempfile.TemporaryDirectory(prefix="omo-bench-") as tmp_name:
        tmp = Path(tmp_name)
        trace = tmp / "trace.jsonl"
        total = build_trace(trace)
        with Mosquitto() as broker, central_sim(broker.port) as central_totals:
            stats, elapsed, _ = run_daemon(broker.port, trace, tmp / "loop.sqlite3")
            empty = tmp / "empty.jsonl"
            empty.write_text("")
            fill_outbox(tmp / "sync.sqlite3", SYNC_EVENTS)
            sync_stats, _, sync_elapsed = run_daemon(broker.port, empty, tmp / "sync.sqlite3")
        baseline = bare_pipeline(trace)
    rss_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    adverts_per_s = stats.adverts / elapsed
    print(f"adverts replayed:      {stats.adverts} of {total} in {elapsed:.2f} s")
    print(f"through the daemon:    {adverts_per_s:,.0f} adverts/s")
    print(f"baseline (bare decode+track, same adverts): {baseline:,.0f} adverts/s")
    print(f"loop events synced:    {stats.events_synced}, pending {stats.events_pending}")
    synced_per_s = sync_stats.events_synced / sync_elapsed
    print(
        f"outbox drain:          {sync_stats.events_synced} of {SYNC_EVENTS} events in "
        f"{sync_elapsed:.2f} s = {synced_per_s:,.0f} events/s; "
        f"central stored {central_totals.get('events')} in all"
    )
    print(
        f"visitors {len(stats.visitors)}, decisions {stats.decisions}, "
        f"impressions {stats.impressions}, frames {stats.frames}"
    )
    print(f"peak RSS:              {rss_mb:.1f} MB")
    print(
        json.dumps(
            {
                "adverts_per_s": round(adverts_per_s),
                "events_synced_per_s": round(synced_per_s),
                "rss_mb": round(rss_mb, 1),
                "ratio_vs_bare_pipeline": round(adverts_per_s / baseline, 3),
            }
        )
    )


if __name__ == "__main__":
    main()
