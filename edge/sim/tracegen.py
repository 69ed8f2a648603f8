"""Synthetic store traces with ground truth, following the model docs/traces.md describes.

Log-distance path loss (exponent 2.2 by default), slow shadowing (about 3 dB,
5 s correlation), fast noise (4 dB by default), reception probability falling with
distance, advertising intervals of 0.1-1 s, and a fixed per-beacon bias
(advertised 1 m power off by up to ±3 dB, 0-6 dB absorbed by body or bag).
People: visitors walk up and stay 5-90 s within 2.5 m (a true visit);
passers-by come within 2.5 m for a few seconds; lingerers stay 4.5-7 m away;
the store's fixtures sit still. Used to tune and test presence tracking on
more than the two sample traces, and to load the tracker with many beacons.

`Radio` changes the path-loss exponent and the fast noise (a harsher room than
the samples'); its defaults are the samples' model, and a trace made with them
is the same, advert for advert, as before `Radio` existed.

Frozen: benchmarks/presence_accuracy.py scores seeds 11-18 and 100-129 of this
generator, and the presence model was tuned on some of them. Any change that alters what
a seed produces must keep the old traces as files (benchmarks/presence/).
"""

from __future__ import annotations

import itertools
import math
import random
from collections.abc import Iterator
from dataclasses import dataclass

from edge.presence.encode import eddystone_uid, ibeacon, line

PATH_LOSS = 2.2
SHADOW_DB, SHADOW_TAU_S = 3.0, 5.0
FAST_DB = 4.0
VISIT_M = 2.5
FIXTURE_UUID = "e2c56db5-dffb-48d2-b060-d0f5a71096e0"
MEMBER_UUID = "f7826da6-4fa2-4e98-8024-bc5b71e0893e"
NAMESPACE = "8b0ca750e7a74e14bd99"


@dataclass(frozen=True)
class Crowd:
    """How busy the store is (people per hour by kind) and for how long."""

    minutes: float = 10.0
    visitors_per_hour: float = 130.0
    passers_per_hour: float = 250.0
    lingerers_per_hour: float = 60.0
    fixtures: int = 4


@dataclass(frozen=True)
class Radio:
    """How the room treats the signal: log-distance exponent and per-advert noise (dB)."""

    path_loss_exponent: float = PATH_LOSS
    fast_noise_db: float = FAST_DB


@dataclass
class _Person:
    identity: str
    manufacturer_data: dict[str, str]
    service_data: dict[str, str]
    advertised_1m: int
    true_1m: float
    interval_s: float
    path: list[tuple[float, float, float]]  # (t, x, y) waypoints, screen at the origin
    kind: str

    def position(self, t: float) -> tuple[float, float] | None:
        path = self.path
        if t < path[0][0] or t > path[-1][0]:
            return None
        for (t0, x0, y0), (t1, x1, y1) in itertools.pairwise(path):
            if t0 <= t <= t1:
                f = 0.0 if t1 == t0 else (t - t0) / (t1 - t0)
                return x0 + f * (x1 - x0), y0 + f * (y1 - y0)
        return None


def _reception(distance: float) -> float:
    return max(0.02, min(1.0, 1.0 - 0.06 * distance))


def _beacon(rng: random.Random, n: int) -> tuple[str, dict[str, str], dict[str, str], int]:
    roll = rng.random()
    if roll < 0.6:
        major, minor = rng.randrange(65536), rng.randrange(65536)
        power = rng.randint(-66, -54)
        payload = ibeacon(MEMBER_UUID, major, minor, power)
        return f"ibeacon:{MEMBER_UUID}:{major}:{minor}", {"76": payload.hex()}, {}, power
    if roll < 0.85:
        instance = rng.randbytes(6).hex()
        power = rng.randint(-66, -54)
        payload = eddystone_uid(bytes.fromhex(NAMESPACE), bytes.fromhex(instance), power + 41)
        ident = f"eddystone-uid:{NAMESPACE}:{instance}"
        return ident, {}, {"0000feaa-0000-1000-8000-00805f9b34fb": payload.hex()}, power
    hwid = rng.randbytes(5).hex()
    power = rng.randint(-64, -56)
    payload = line(bytes.fromhex(hwid), power, rng.randbytes(7))
    return f"line:{hwid}", {}, {"0000fe6f-0000-1000-8000-00805f9b34fb": payload.hex()}, power


def _walk(
    points: list[tuple[float, float]], start: float, speeds: list[float], stays: list[float]
) -> list[tuple[float, float, float]]:
    """Waypoints for walking point to point, pausing `stays[i]` at point i+1."""
    t, path = start, [(start, *points[0])]
    for i, (a, b) in enumerate(itertools.pairwise(points)):
        t += math.dist(a, b) / speeds[i]
        path.append((t, *b))
        if i < len(stays) and stays[i] > 0:
            t += stays[i]
            path.append((t, *b))
    return path


def _person(rng: random.Random, kind: str, start: float, n: int) -> _Person:
    ident, mfg, svc, advertised = _beacon(rng, n)
    bias = rng.uniform(-3, 3) - rng.uniform(0, 6)
    angle = rng.uniform(-math.pi / 2, math.pi / 2)
    far = rng.uniform(14, 20)
    away = angle + rng.uniform(-0.8, 0.8)
    outside = (far * math.cos(angle), far * math.sin(angle))
    gone = (far * math.cos(away), far * math.sin(away))
    speed = rng.uniform(0.8, 1.4)
    if kind == "visitor":
        r = rng.uniform(0.4, 2.1)
        spot = (r * math.cos(angle), r * math.sin(angle))
        path = _walk([outside, spot, gone], start, [speed, speed], [rng.uniform(5, 90)])
    elif kind == "lingerer":
        r = rng.uniform(4.5, 7.0)
        spot = (r * math.cos(angle), r * math.sin(angle))
        path = _walk([outside, spot, gone], start, [speed, speed], [rng.uniform(30, 240)])
    else:  # a passer-by on a straight line whose closest point is within 2.5 m
        c = rng.uniform(0.8, 2.5)
        heading = rng.uniform(0, math.pi)
        ox, oy = c * math.cos(heading + math.pi / 2), c * math.sin(heading + math.pi / 2)
        dx, dy = math.cos(heading), math.sin(heading)
        path = _walk(
            [(ox - 20 * dx, oy - 20 * dy), (ox + 20 * dx, oy + 20 * dy)],
            start,
            [rng.uniform(0.9, 1.5)],
            [],
        )
    return _Person(
        ident, mfg, svc, advertised, advertised + bias, rng.uniform(0.1, 1.0), path, kind
    )


def _fixture(rng: random.Random, i: int, end: float) -> _Person:
    power = -59
    payload = ibeacon(FIXTURE_UUID, 1, i + 1, power)
    r = rng.uniform(6, 10)
    a = rng.uniform(-math.pi / 2, math.pi / 2)
    spot = (r * math.cos(a), r * math.sin(a))
    return _Person(
        f"ibeacon:{FIXTURE_UUID}:1:{i + 1}",
        {"76": payload.hex()},
        {},
        power,
        power + rng.uniform(-2, 2),
        rng.uniform(0.8, 1.0),
        [(0.0, *spot), (end, *spot)],
        "fixture",
    )


def _visit_truth(p: _Person, step: float = 0.05) -> dict[str, object] | None:
    t, end = p.path[0][0], p.path[-1][0]
    inside, enter = False, 0.0
    closest = math.inf
    while t <= end:
        pos = p.position(t)
        d = math.hypot(*pos) if pos else math.inf
        closest = min(closest, d)
        if d <= VISIT_M and not inside:
            inside, enter = True, t
        elif d > VISIT_M and inside:
            zone = "immediate" if closest <= 0.5 else "near"
            return {
                "visitor": p.identity,
                "enter_t": round(enter, 2),
                "exit_t": round(t, 2),
                "zone": zone,
                "kind": "visit",
            }
        t += step
    return None


Trace = tuple[list[dict[str, object]], list[dict[str, object]], dict[str, str]]


def generate(crowd: Crowd, seed: int, radio: Radio | None = None) -> Trace:
    """(trace lines, truth lines, kind of each identity) for `crowd`, reproducible from `seed`."""
    rng = random.Random(seed)
    end = crowd.minutes * 60
    people = [_fixture(rng, i, end) for i in range(crowd.fixtures)]
    for kind, rate in (
        ("visitor", crowd.visitors_per_hour),
        ("passer", crowd.passers_per_hour),
        ("lingerer", crowd.lingerers_per_hour),
    ):
        t = rng.expovariate(rate / 3600)
        while t < end - 30:
            people.append(_person(rng, kind, t, len(people)))
            t += rng.expovariate(rate / 3600)
    truth = []
    for p in people:
        if p.kind == "visitor":
            v = _visit_truth(p)
            if v is not None and float(v["exit_t"]) <= end:  # type: ignore[arg-type]
                truth.append(v)
    lines = sorted(_adverts(rng, people, end, radio or Radio()), key=lambda line: float(line["t"]))  # type: ignore[arg-type]
    kinds = {p.identity: p.kind for p in people}
    return lines, sorted(truth, key=lambda v: float(v["enter_t"])), kinds  # type: ignore[arg-type]


def _adverts(
    rng: random.Random, people: list[_Person], end: float, radio: Radio
) -> Iterator[dict[str, object]]:
    exponent, fast = radio.path_loss_exponent, radio.fast_noise_db
    for p in people:
        address = ":".join(f"{rng.randrange(256):02X}" for _ in range(6))
        t = p.path[0][0] + rng.uniform(0, p.interval_s)
        shadow, last = rng.gauss(0, SHADOW_DB), t
        while t <= min(end, p.path[-1][0]):
            dt = t - last
            decay = math.exp(-dt / SHADOW_TAU_S)
            shadow = shadow * decay + rng.gauss(0, SHADOW_DB * math.sqrt(1 - decay * decay))
            last = t
            pos = p.position(t)
            if pos is not None:
                d = max(0.1, math.hypot(*pos))
                rssi = p.true_1m - 10 * exponent * math.log10(d) + shadow + rng.gauss(0, fast)
                if rssi > -100 and rng.random() < _reception(d):
                    yield {
                        "t": round(t, 3),
                        "address": address,
                        "rssi": round(rssi),
                        "tx_power": None,
                        "local_name": None,
                        "service_uuids": [],
                        "manufacturer_data": p.manufacturer_data,
                        "service_data": p.service_data,
                    }
            t += p.interval_s * rng.uniform(0.95, 1.05)
