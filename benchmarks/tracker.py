"""Adverts per second through decode + tracker with 500 beacons in view, on one core.

500 iBeacon/Eddystone beacons, each heard about every 0.1-1 s, with levels
that wander (some walk up and stay, most pass or linger), fed through the
PresencePipeline exactly as the daemon does (decode, the motion model of
edge/presence/model.py filtered in frames, ticks by advert time).
Baselines in the same run, behind the same decoder: today's tracker (the
Kalman/CUSUM tracker omo-edge shipped before the motion model,
benchmarks/_presence_today.py, ticked every 0.25 s as the daemon did) and
the plain moving-average tracker of benchmarks/_baseline.py.
Goal: >= 20,000 adverts/s (a Raspberry Pi 4 is 3-4x slower; a busy store
makes 1-2k adverts/s). Also printed: the beacons the model still holds at the
end (only those heard within absence_timeout_s: memory is bounded).
"""

from __future__ import annotations

import json
import random
import time

from _baseline import MovingAverageTracker
from _presence_today import TodayParams, TodayTracker

from edge.ids import new_id
from edge.presence.advert import Advert
from edge.presence.decode import decode
from edge.presence.encode import eddystone_uid, ibeacon
from edge.presence.pipeline import PresencePipeline
from edge.presence.tracker import TrackerParams
from edge.sim.tracegen import MEMBER_UUID, NAMESPACE

BEACONS = 500
SECONDS = 120.0
ROUNDS = 5


def adverts(seed: int = 7) -> list[Advert]:
    """Interleaved adverts of BEACONS beacons over SECONDS of trace time."""
    rng = random.Random(seed)
    out: list[Advert] = []
    for n in range(BEACONS):
        if n % 4 == 3:
            service = {
                "0000feaa-0000-1000-8000-00805f9b34fb": eddystone_uid(
                    bytes.fromhex(NAMESPACE), n.to_bytes(6, "big"), -18
                )
            }
            manufacturer: dict[int, bytes] = {}
        else:
            service, manufacturer = {}, {0x004C: ibeacon(MEMBER_UUID, n // 256, n % 256, -59)}
        interval = rng.uniform(0.1, 1.0)
        level, drift = rng.uniform(-95, -55), rng.uniform(-1.0, 1.0)
        t = rng.uniform(0, interval)
        while t < SECONDS:
            level = min(-40.0, max(-100.0, level + drift * interval))
            rssi = round(level + rng.gauss(0, 4))
            out.append(
                Advert(
                    t,
                    "00:00:00:00:00:00",
                    rssi,
                    manufacturer_data=manufacturer,
                    service_data=service,
                )
            )
            t += interval
    out.sort(key=lambda a: a.t)
    return out


def ours(feed: list[Advert]) -> tuple[float, int, int]:
    """Best rate, presence events of a round, beacons held at its end."""
    best, events, held = 0.0, 0, 0
    for _ in range(ROUNDS):
        pipeline = PresencePipeline(TrackerParams(), new_id)
        start = time.perf_counter()
        count = 0
        for advert in feed:
            count += len(pipeline.feed(advert)[1])
        rate = len(feed) / (time.perf_counter() - start)
        best, events, held = max(best, rate), count, pipeline.tracker.beacons
    return best, events, held


def today(feed: list[Advert]) -> float:
    best = 0.0
    for _ in range(ROUNDS):
        tracker, next_tick = TodayTracker(TodayParams(), new_id), 0.0
        start = time.perf_counter()
        for advert in feed:
            if advert.t >= next_tick:
                tracker.tick(advert.t)
                next_tick = advert.t + 0.25
            beacon = decode(advert.manufacturer_data, advert.service_data)
            if beacon is not None:
                tracker.observe(beacon, advert.rssi, advert.t)
        best = max(best, len(feed) / (time.perf_counter() - start))
    return best


def baseline(feed: list[Advert]) -> float:
    best = 0.0
    for _ in range(ROUNDS):
        tracker, next_tick = MovingAverageTracker(), 0.0
        start = time.perf_counter()
        for advert in feed:
            if advert.t >= next_tick:
                tracker.tick(advert.t)
                next_tick = advert.t + 0.25
            beacon = decode(advert.manufacturer_data, advert.service_data)
            if beacon is not None:
                tracker.observe(beacon.identity, beacon.tx_power_1m, advert.rssi, advert.t)
        best = max(best, len(feed) / (time.perf_counter() - start))
    return best


def main() -> None:
    feed = adverts()
    rate, events, held = ours(feed)
    old = today(feed)
    base = baseline(feed)
    print(f"{len(feed)} adverts from {BEACONS} beacons over {SECONDS:.0f} s of trace time")
    print(f"decode + motion model (omo-edge):   {rate:,.0f} adverts/s ({events} presence events)")
    print(f"decode + today's tracker:           {old:,.0f} adverts/s")
    print(f"decode + moving average (baseline): {base:,.0f} adverts/s")
    print(f"goal >= 20,000 adverts/s: {'met' if rate >= 20_000 else 'NOT MET'}")
    print(
        json.dumps(
            {
                "adverts_per_s": round(rate),
                "beacons": BEACONS,
                "beacons_held_at_end": held,
                "goal_adverts_per_s": 20_000,
                "today_tracker_adverts_per_s": round(old),
                "ratio_vs_today_tracker": round(rate / old, 2),
                "baseline_moving_average_adverts_per_s": round(base),
                "ratio_vs_moving_average": round(rate / base, 2),
            }
        )
    )


if __name__ == "__main__":
    main()
