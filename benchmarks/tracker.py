"""Adverts per second through decode + tracker with 500 beacons in view, on one core.

500 iBeacon/Eddystone beacons, each heard about every 0.1-1 s, with levels
that wander (some walk up and stay, most pass or linger), fed through the
PresencePipeline exactly as the daemon does (decode, Kalman/CUSUM tracker,
ticks by advert time). Baseline in the same run: the plain moving-average
tracker of benchmarks/_baseline.py behind the same decoder.
Goal: >= 50,000 adverts/s.
"""

from __future__ import annotations

import json
import random
import time

from _baseline import MovingAverageTracker

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


def ours(feed: list[Advert]) -> tuple[float, int]:
    best, events = 0.0, 0
    for _ in range(ROUNDS):
        pipeline = PresencePipeline(TrackerParams(), new_id)
        start = time.perf_counter()
        count = 0
        for advert in feed:
            count += len(pipeline.feed(advert)[1])
        rate = len(feed) / (time.perf_counter() - start)
        best, events = max(best, rate), count
    return best, events


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
    rate, events = ours(feed)
    base = baseline(feed)
    print(f"{len(feed)} adverts from {BEACONS} beacons over {SECONDS:.0f} s of trace time")
    print(f"decode + tracker (omo-edge):        {rate:,.0f} adverts/s ({events} presence events)")
    print(f"decode + moving average (baseline): {base:,.0f} adverts/s")
    print(
        json.dumps(
            {
                "adverts_per_s": round(rate),
                "beacons": BEACONS,
                "baseline_moving_average_adverts_per_s": round(base),
                "ratio_vs_moving_average": round(rate / base, 2),
            }
        )
    )


if __name__ == "__main__":
    main()
