"""The I/O loop's worst stall while the device drains a big backlog and takes in a big asset.

The asyncio loop that owns MQTT also owns the 800 ms decide deadline, so nothing
may block it. This runs the device's I/O side (edge.app.io.IoSide: every
service, the supervisor, a real Mosquitto on loopback, the central simulator in
its own process acknowledging batches and answering decide requests) in this
process, without a screen, and measures:

1. drain: the outbox starts with --events events (default 1,000,000) pending,
   as after a long outage, and the device sends them all to central;
2. asset: a signed manifest naming one asset of --asset-mb MB (default 200)
   arrives, then the asset itself; the device checks its SHA-256 and stores it.

Meanwhile a monitor task sleeps 1 ms at a time on the same loop and records how
late it wakes (a stall), and a decide request goes to central every 100 ms
(`Decider.ask`, the device's own code) with its round trip timed.

Baseline, same process, same code: the design before the outbox thread, i.e.
every SQLite call (the writer's commits, the syncer's batches and deletions) and
the asset's hashing and writing run on the event loop itself.

Last line: one JSON object. Goal: worst stall <= 20 ms, no decide request late.

A decide late while the 200 MB asset crosses is the broker's, not the device's:
Mosquitto (2.0, one thread) moves the whole message before it serves the other
sockets again. Two bare paho clients show the same with the receiver in another
process: a round trip waits 0.4-0.6 s once per 200 MB (docs/protocol.md,
"Large assets and the broker").
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import contextlib
import hashlib
import json
import os
import subprocess
import tempfile
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, ParamSpec, TypeVar

os.environ.setdefault("SDL_VIDEODRIVER", "dummy")
os.environ.setdefault("PYGAME_HIDE_SUPPORT_PROMPT", "1")

import numpy as np
from _central import central_sim
from nacl.signing import SigningKey

import edge.app.io
import edge.content.service
from edge import config as config_mod
from edge.app.bridge import RenderBridge
from edge.app.io import IoSide
from edge.app.stats import Stats
from edge.content.manifest import sign
from edge.ids import new_id
from edge.outbox.store import Outbox
from edge.sim.broker import Mosquitto
from edge.sim.replay import ReplaySource

P = ParamSpec("P")
T = TypeVar("T")
GOAL_STALL_MS = 20.0
DECIDE_EVERY_S = 0.1
FILL_CHUNK = 50_000
SEED = bytes(range(32))
KID = "bench"


class InlineOutbox:
    """The baseline: OutboxThread's interface, every call made on the event loop itself."""

    def __init__(self, path: Path, max_rows: int = 0, max_bytes: int = 0) -> None:
        self.path = path
        self._outbox = Outbox(path, max_rows, max_bytes)

    async def __aenter__(self) -> InlineOutbox:
        return self

    async def __aexit__(self, *exc: object) -> None:
        self._outbox.close()

    @property
    def recovered_from(self) -> Path | None:
        return None

    async def run(self, fn: Callable[..., T], *args: Any, **kwargs: Any) -> T:
        return fn(self._outbox, *args, **kwargs)


async def inline_off_loop(self: Any, fn: Callable[P, T], *args: P.args, **kwargs: P.kwargs) -> T:
    """The baseline's ContentService._off_loop: the manager's work on the loop."""
    return fn(*args, **kwargs)


@contextlib.contextmanager
def design(baseline: bool) -> Iterator[None]:
    """The baseline swaps the outbox thread and the content worker for inline calls."""
    if not baseline:
        yield
        return
    saved = edge.app.io.OutboxThread, edge.content.service.ContentService._off_loop
    edge.app.io.OutboxThread = InlineOutbox  # type: ignore[misc,assignment]
    edge.content.service.ContentService._off_loop = inline_off_loop  # type: ignore[method-assign,assignment]
    try:
        yield
    finally:
        edge.app.io.OutboxThread = saved[0]  # type: ignore[misc]
        edge.content.service.ContentService._off_loop = saved[1]  # type: ignore[method-assign]


def fill(path: Path, count: int) -> None:
    """`count` pending visit events, in big transactions (not part of the measurement)."""
    now = int(time.time() * 1000)
    with Outbox(path) as box:
        for start in range(0, count, FILL_CHUNK):
            box.append(
                {
                    "id": new_id(),
                    "type": "visit.dwell",
                    "ts": now + n,
                    "clock_synced": True,
                    "visitor": f"ibeacon:f7826da6-4fa2-4e98-8024-bc5b71e0893e:1:{n % 500}",
                    "visit_id": f"visit-{n // 10}",
                    "zone": "near",
                    "rssi": -61,
                }
                for n in range(start, min(count, start + FILL_CHUNK))
            )


class Monitor:
    """How late the loop wakes from 1 ms sleeps (the loop's stalls, in ms)."""

    def __init__(self) -> None:
        self.lateness: list[float] = []

    async def run(self) -> None:
        loop = asyncio.get_running_loop()
        while True:
            before = loop.time()
            await asyncio.sleep(0.001)
            self.lateness.append((loop.time() - before - 0.001) * 1000)

    def window(self, start: int) -> dict[str, float]:
        a = np.asarray(self.lateness[start:] or [0.0])
        return {
            "worst_stall_ms": round(float(a.max()), 2),
            "p99_stall_ms": round(float(np.percentile(a, 99)), 2),
            "p999_stall_ms": round(float(np.percentile(a, 99.9)), 2),
        }


class Decides:
    """A decide request every DECIDE_EVERY_S through the device's own Decider."""

    def __init__(self, io: IoSide) -> None:
        self.io = io
        self.rtt_ms: list[float] = []
        self.unanswered = 0

    async def run(self) -> None:
        n = 0
        while True:
            decider = self.io.personalize.decider
            if decider is not None and decider.online:
                n += 1
                started = time.perf_counter()
                answer = await decider.ask(f"app:bench-{n}", new_id(), "beacon", "near")
                if answer is None:
                    self.unanswered += 1
                else:
                    self.rtt_ms.append((time.perf_counter() - started) * 1000)
            await asyncio.sleep(DECIDE_EVERY_S)

    def window(self, start: int, unanswered_before: int) -> dict[str, float]:
        a = np.asarray(self.rtt_ms[start:] or [0.0])
        return {
            "decides": len(self.rtt_ms) - start,
            "decide_p50_ms": round(float(np.percentile(a, 50)), 2),
            "decide_max_ms": round(float(a.max()), 2),
            "decides_late": self.unanswered - unanswered_before,
        }


def publish(port: int, topic: str, payload: bytes, retain: bool = False) -> None:
    """Central publishing (mosquitto_pub, its own process), e.g. a 200 MB asset."""
    with tempfile.NamedTemporaryFile() as f:
        f.write(payload)
        f.flush()
        args = ["mosquitto_pub", "-p", str(port), "-t", topic, "-q", "1", "-f", f.name]
        subprocess.run([*args, *(["-r"] if retain else [])], check=True, timeout=300)


async def scenario(cfg: config_mod.Config, port: int, events: int, asset: bytes) -> dict[str, Any]:
    stats = Stats()
    (cfg.state_dir / "none.jsonl").touch()
    bridge = RenderBridge(on_impression=lambda _i: None)
    io = IoSide(cfg, ReplaySource(cfg.state_dir / "none.jsonl"), bridge, stats)
    ready = asyncio.Event()
    main = asyncio.create_task(io.main(ready.set))
    await ready.wait()
    monitor, decides = Monitor(), Decides(io)
    watchers = [asyncio.create_task(monitor.run()), asyncio.create_task(decides.run())]
    online = io.online
    assert online is not None
    await asyncio.wait_for(online.link.connected.wait(), 30)
    await asyncio.sleep(0.5)  # a few decides before the load

    # 1. drain
    mark, rtt_mark, late_mark = len(monitor.lateness), len(decides.rtt_ms), decides.unanswered
    started = time.perf_counter()
    while await io.outbox.pending():
        await asyncio.sleep(0.05)
    drain_s = time.perf_counter() - started
    drained = {
        "drain_s": round(drain_s, 1),
        "events_per_s": round(events / drain_s),
        **monitor.window(mark),
        **decides.window(rtt_mark, late_mark),
    }

    # 2. a big asset
    sha = hashlib.sha256(asset).hexdigest()
    now = int(time.time() * 1000)
    doc = {
        "version": 1,
        "issued_ts": now - 60_000,
        "expires_ts": now + 86_400_000,
        "scope": {"store_id": cfg.device.store_id, "device_id": None},
        "playlist": [{"id": "t1", "kind": "text", "title": "Big", "duration_ms": 5000}],
        "schedule": [],
        "assets": {"big.bin": sha},
        "timezone": "UTC",
    }
    topics = online.link.topics
    seed = base64.b64encode(SEED).decode()
    await asyncio.to_thread(publish, port, topics.store_manifest, sign(doc, seed, KID), True)
    await asyncio.sleep(1.0)  # the manifest is pending, waiting for its asset
    mark, rtt_mark, late_mark = len(monitor.lateness), len(decides.rtt_ms), decides.unanswered
    started = time.perf_counter()
    await asyncio.to_thread(publish, port, f"{topics.base}/asset/{sha}", asset)
    stored = cfg.state_dir / "assets" / sha
    while not stored.exists():
        await asyncio.sleep(0.05)
        if time.perf_counter() - started > 300:
            raise TimeoutError("the asset was never stored")
    asset_s = time.perf_counter() - started
    took_in = {
        "asset_s": round(asset_s, 2),
        **monitor.window(mark),
        **decides.window(rtt_mark, late_mark),
    }
    for w in watchers:
        w.cancel()
    io.request_stop()
    await main
    return {"drain": drained, "asset": took_in}


def run_once(baseline: bool, events: int, asset: bytes) -> dict[str, Any]:
    with tempfile.TemporaryDirectory(prefix="omo-stall-") as tmp, Mosquitto() as broker:
        state = Path(tmp)
        public = base64.b64encode(bytes(SigningKey(SEED).verify_key)).decode()
        cfg = config_mod.from_mapping(
            {
                "device": {"store_id": "bench", "device_id": "stall-1"},
                "mqtt": {"host": "127.0.0.1", "port": broker.port},
                "storage": {"path": str(state / "outbox.sqlite3"), "hold_s": 0},
                "content": {"public_keys": {KID: public}, "max_asset_bytes": len(asset) + 1024},
                "health": {"interval_s": 0},
                "display": {"headless": True},
            }
        )
        print(f"  filling the outbox with {events} events ...", flush=True)
        fill(cfg.outbox_path, events)
        with central_sim(broker.port), design(baseline):
            return asyncio.run(scenario(cfg, broker.port, events, asset))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=1_000_000)
    parser.add_argument("--asset-mb", type=int, default=200)
    args = parser.parse_args()
    asset = os.urandom(args.asset_mb << 20)
    results = {}
    for name, baseline in (("ours", False), ("baseline_on_loop", True)):
        print(f"{name}: drain {args.events} events, take in a {args.asset_mb} MB asset", flush=True)
        results[name] = run_once(baseline, args.events, asset)
        for phase, figures in results[name].items():
            print(f"  {phase}: {json.dumps(figures)}", flush=True)
    ours, base = results["ours"], results["baseline_on_loop"]
    worst = max(ours["drain"]["worst_stall_ms"], ours["asset"]["worst_stall_ms"])
    late = ours["drain"]["decides_late"] + ours["asset"]["decides_late"]
    met = worst <= GOAL_STALL_MS and late == 0
    verdict = "met" if met else "NOT met"
    print(f"goal: worst stall <= {GOAL_STALL_MS:.0f} ms and no decide late: {verdict}")
    print(
        json.dumps(
            {
                "events": args.events,
                "asset_mb": args.asset_mb,
                "worst_stall_ms": worst,
                "drain_worst_stall_ms": ours["drain"]["worst_stall_ms"],
                "asset_worst_stall_ms": ours["asset"]["worst_stall_ms"],
                "drain_events_per_s": ours["drain"]["events_per_s"],
                "decides_late": late,
                "baseline_worst_stall_ms": max(
                    base["drain"]["worst_stall_ms"], base["asset"]["worst_stall_ms"]
                ),
                "ratio_stall_vs_baseline_on_loop": round(
                    max(base["drain"]["worst_stall_ms"], base["asset"]["worst_stall_ms"])
                    / max(worst, 0.01),
                    1,
                ),
                "baseline_decides_late": base["drain"]["decides_late"]
                + base["asset"]["decides_late"],
                "goal_stall_ms": GOAL_STALL_MS,
                "goal_met": met,
            }
        )
    )


if __name__ == "__main__":
    main()
