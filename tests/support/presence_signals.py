"""Synthetic adverts for one beacon on a known path, and a tracker run over them.

The radio follows the model docs/presence.md describes (log-distance path loss,
a fixed offset, slow shadowing, fast noise), with every term set by the test, so
a property can be checked with exactly the noise it names.
"""

from __future__ import annotations

import itertools
import json
import math
import random
from collections.abc import Callable, Iterable
from dataclasses import dataclass

from edge.presence.decode import APPLE, Beacon
from edge.presence.encode import ibeacon
from edge.presence.tracker import PresenceEvent, Tracker, TrackerParams
from edge.sim.tracegen import MEMBER_UUID

TX = -59
BEACON = Beacon("ibeacon:f7826da6-4fa2-4e98-8024-bc5b71e0893e:1:2", "ibeacon", TX)
OTHER = Beacon("ibeacon:f7826da6-4fa2-4e98-8024-bc5b71e0893e:1:3", "ibeacon", TX)
TICK_S = 0.25

Path = Callable[[float], float | None]  # seconds -> metres from the screen (None: not there)


@dataclass(frozen=True)
class Radio:
    offset_db: float = -3.0  # the beacon's true 1 m power minus its advertised one
    exponent: float = 2.2
    noise_db: float = 0.0
    shadow_db: float = 0.0
    shadow_tau_s: float = 5.0


def standing(distance: float, start: float, end: float) -> Path:
    return lambda t: distance if start <= t <= end else None


def walk_up_and_stay(spot: float, arrive: float, leave: float, speed: float = 1.1) -> Path:
    """From 15 m straight to `spot`, stay until `leave`, then straight back out to 15 m."""
    far = 15.0

    def at(t: float) -> float | None:
        walk = (far - spot) / speed
        if t < arrive - walk or t > leave + walk:
            return None
        if t < arrive:
            return spot + (arrive - t) * speed
        if t <= leave:
            return spot
        return spot + (t - leave) * speed

    return at


def passing(closest: float, at_closest: float, speed: float, half_length: float = 15.0) -> Path:
    """A straight line past the screen, `closest` metres from it at `at_closest`."""

    def at(t: float) -> float | None:
        along = (t - at_closest) * speed
        return math.hypot(closest, along) if abs(along) <= half_length else None

    return at


def adverts(
    path: Path, start: float, end: float, interval: float, radio: Radio, seed: int = 0
) -> list[tuple[float, int]]:
    """(time, rssi) of every advert heard from `path` between `start` and `end`."""
    rng = random.Random(seed)
    shadow, last, out = rng.gauss(0, radio.shadow_db), start, []
    t = start + rng.uniform(0, interval)
    while t <= end:
        decay = math.exp(-(t - last) / radio.shadow_tau_s)
        shadow = shadow * decay + rng.gauss(0, radio.shadow_db * math.sqrt(1 - decay * decay))
        last = t
        d = path(t)
        if d is not None:
            level = TX + radio.offset_db - 10 * radio.exponent * math.log10(max(d, 0.1))
            out.append((round(t, 3), round(level + shadow + rng.gauss(0, radio.noise_db))))
        t += interval
    return out


def run(
    heard: Iterable[tuple[float, Beacon, int]],
    until: float,
    params: TrackerParams | None = None,
    tracker: Tracker | None = None,
) -> list[PresenceEvent]:
    """Feed adverts in time order with a tick every TICK_S, as the pipeline does; then
    let time run to `until` (no close: what is still open stays open)."""
    numbers = itertools.count(1)
    tracker = tracker or Tracker(params or TrackerParams(), lambda: f"visit-{next(numbers)}")
    events: list[PresenceEvent] = []
    tick = 0.0
    for t, beacon, rssi in sorted(heard, key=lambda h: h[0]):
        while tick <= t:
            events += tracker.tick(tick)
            tick += TICK_S
        events += tracker.observe(beacon, rssi, t)
    while tick <= until:
        events += tracker.tick(tick)
        tick += TICK_S
    return events


def of(beacon: Beacon, heard: list[tuple[float, int]]) -> list[tuple[float, Beacon, int]]:
    return [(t, beacon, rssi) for t, rssi in heard]


def types(events: Iterable[PresenceEvent], prefix: str = "") -> list[str]:
    return [e.type for e in events if e.type.startswith(prefix)]


def trace_lines(heard: Iterable[tuple[float, int]], major: int, minor: int) -> list[str]:
    """`heard` as lines of a trace (docs/traces.md): an iBeacon of the member UUID
    `ibeacon:f7826da6-4fa2-4e98-8024-bc5b71e0893e:{major}:{minor}`, advertising TX at 1 m."""
    payload = ibeacon(MEMBER_UUID, major, minor, TX).hex()
    return [
        json.dumps(
            {
                "t": t,
                "address": "00:00:00:00:00:00",
                "rssi": rssi,
                "tx_power": None,
                "local_name": None,
                "service_uuids": [],
                "service_data": {},
                "manufacturer_data": {str(APPLE): payload},
            }
        )
        for t, rssi in heard
    ]
