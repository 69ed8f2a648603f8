"""Beacon decoding speed: BeaconDecoder against beacontools on the same realistic mix.

The mix: every advert of the two sample traces (iBeacon, Eddystone-UID and TLM,
LINE, Apple continuity, other companies' noise, truncated iBeacons) plus
generated adverts the traces lack: Eddystone URL, EID and more TLM, AltBeacon,
LINE Simple Beacons, the fixed iBeacon each LINE beacon sends beside its LINE
frame, more Apple continuity noise, and garbage under random company ids and
service UUIDs (Eddystone's and LINE's included). Shuffled with a fixed seed.

Figures (one core, best of several repetitions, GC off while timing, as timeit):
- adverts/s through `BeaconDecoder.decode` (fresh decoder per repetition, so its
  cache starts cold; fresh bytes and dicts per repetition, so no hash is cached
  from the previous one, as with adverts fresh from bleak);
- adverts/s through `decode()` (the plain function, no cache), for reference;
- adverts/s through `beacontools.parse_packet` on the equivalent raw AD
  structures (flags, 16-bit service UUID list, service data, manufacturer
  data), built by `edge.presence.encode.advertising_data`. beacontools also
  splits the AD structures, which BlueZ/bleak do for us, so that is part of its
  cost; it knows iBeacon and Eddystone but not AltBeacon or LINE.

The last line is one JSON object.
"""

from __future__ import annotations

import gc
import json
import os
import random
import sys
import time
import uuid
from collections import Counter
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from edge.presence import encode
from edge.presence.decode import (
    APPLE,
    EDDYSTONE_UUID,
    LINE_UUID,
    Beacon,
    BeaconDecoder,
    decode,
    decode_frame,
)
from edge.presence.trace import read_trace

SAMPLES = Path(__file__).resolve().parent / "presence"  # the sample traces shipped here
TRACES = [SAMPLES / "store-a.jsonl", SAMPLES / "store-b.jsonl"]
OURS_REPEATS = 7
BEACONTOOLS_REPEATS = 3
SEED = 20240611

Advert = tuple[dict[int, bytes], dict[str, bytes]]


def trace_adverts() -> list[Advert]:
    out: list[Advert] = []
    for path in TRACES:
        for a in read_trace(path):
            if isinstance(a, Exception):
                continue
            out.append((dict(a.manufacturer_data), dict(a.service_data)))
    return out


def generated_adverts(rng: random.Random, line_adverts: int) -> dict[str, list[Advert]]:
    """Adverts the sample traces do not have, by source."""

    def many(n: int, make: Callable[[], Advert]) -> list[Advert]:
        return [make() for _ in range(n)]

    url_beacons = [
        encode.eddystone_url(u, -20)
        for u in (
            "https://www.omo.example/",
            "https://goo.gl/abc123",
            "http://shop.example.com/1",
            "https://www.example.org/x",
            "http://www.store.example.net",
        )
    ]
    eid_beacons = [encode.eddystone_eid(rng.randbytes(8), -18) for _ in range(20)]
    alt_beacons = [
        (
            rng.choice([0x0118, 0x0059, 0x004C, 0x0131]),
            encode.altbeacon(rng.randbytes(16), rng.randrange(65536), rng.randrange(65536), -60),
        )
        for _ in range(30)
    ]
    line_simple = [
        encode.line(rng.randbytes(5), None, rng.randbytes(rng.randint(1, 13))) for _ in range(5)
    ]
    line_ibeacon = encode.line_ibeacon(-59)
    continuity_types = [0x05, 0x07, 0x09, 0x0C, 0x10, 0x12]
    random_uuids = [str(uuid.UUID(bytes=rng.randbytes(16))) for _ in range(10)]

    def tlm() -> Advert:
        frame = encode.eddystone_tlm(
            rng.randint(2800, 3100), rng.uniform(15, 30), rng.randrange(10**6), rng.uniform(0, 1e5)
        )
        return {}, {EDDYSTONE_UUID: frame}

    def continuity() -> Advert:
        kind = rng.choice(continuity_types)
        body = rng.randbytes(rng.randint(2, 25))
        return {APPLE: bytes([kind, len(body)]) + body}, {}

    def garbage() -> Advert:
        payload = rng.randbytes(rng.randint(0, 30))
        where = rng.random()
        if where < 0.4:
            return {rng.randrange(65536): payload}, {}
        if where < 0.55:
            return {APPLE: payload}, {}
        if where < 0.7:
            return {}, {EDDYSTONE_UUID: payload}
        if where < 0.85:
            return {}, {LINE_UUID: payload}
        return {}, {rng.choice(random_uuids): payload}

    def alt() -> Advert:
        company, payload = rng.choice(alt_beacons)
        return {company: payload}, {}

    return {
        "eddystone-url": many(1500, lambda: ({}, {EDDYSTONE_UUID: rng.choice(url_beacons)})),
        "eddystone-eid": many(1000, lambda: ({}, {EDDYSTONE_UUID: rng.choice(eid_beacons)})),
        "eddystone-tlm": many(500, tlm),
        "altbeacon": many(1500, alt),
        "line-simple": many(500, lambda: ({}, {LINE_UUID: rng.choice(line_simple)})),
        "line-ibeacon": many(line_adverts + 500, lambda: ({APPLE: line_ibeacon}, {})),
        "apple-continuity": many(3000, continuity),
        "garbage": many(1000, garbage),
    }


def fresh(adverts: list[Advert]) -> list[Advert]:
    """New bytes, str and dict objects: no hash cached from an earlier repetition."""
    return [
        (
            {k: bytes(bytearray(v)) for k, v in m.items()},
            {k.encode().decode(): bytes(bytearray(v)) for k, v in s.items()},
        )
        for m, s in adverts
    ]


def best_rate(
    repeats: int, make_inputs: Callable[[], list[Any]], run: Callable[[list[Any]], None]
) -> float:
    best = float("inf")
    for _ in range(repeats):
        inputs = make_inputs()
        gc.collect()
        gc.disable()
        try:
            start = time.perf_counter()
            run(inputs)
            best = min(best, time.perf_counter() - start)
        finally:
            gc.enable()
    return len(make_inputs()) / best


def run_decoder(adverts: list[Advert]) -> None:
    dec = BeaconDecoder().decode
    for m, s in adverts:
        dec(m, s)


def run_decode_function(adverts: list[Advert]) -> None:
    for m, s in adverts:
        decode(m, s)


def run_beacontools(packets: list[bytes]) -> None:
    from beacontools import parse_packet

    for p in packets:
        parse_packet(p)


def beacontools_identity(packet: Any) -> str | None:
    """The docs/traces.md identity of what beacontools decoded, where it names one."""
    name = type(packet).__name__
    if name == "IBeaconAdvertisement":
        return f"ibeacon:{packet.uuid}:{packet.major}:{packet.minor}"
    if name == "EddystoneUIDFrame":
        return f"eddystone-uid:{packet.namespace}:{packet.instance}"
    if name == "EddystoneEIDFrame":
        return f"eddystone-eid:{packet.eid.hex()}"
    return None


def check_beacontools(adverts: list[Advert], packets: list[bytes]) -> dict[str, Any]:
    """What beacontools recognised, and whether its identities match ours."""
    from beacontools import parse_packet

    kinds: Counter[str] = Counter()
    agree = disagree = 0
    for (m, s), packet in zip(adverts, packets, strict=True):
        parsed = parse_packet(packet)
        if parsed is None:
            continue
        kinds[type(parsed).__name__] += 1
        theirs = beacontools_identity(parsed)
        frame = decode_frame(m, s)
        ours = frame.identity if isinstance(frame, Beacon) else None
        if theirs is not None and ours is not None:
            if theirs == ours:
                agree += 1
            else:
                disagree += 1
    return {
        "recognised": sum(kinds.values()),
        "by_type": dict(kinds),
        "identity_agree": agree,
        "identity_disagree": disagree,
    }


def mix_counts(adverts: list[Advert]) -> Mapping[str, int]:
    decoder = BeaconDecoder()
    for m, s in adverts:
        decoder.decode_frame(m, s)
    return {k: v for k, v in decoder.counters.items() if v}


def main() -> None:
    if hasattr(os, "sched_setaffinity"):
        os.sched_setaffinity(0, {min(os.sched_getaffinity(0))})  # one core
    rng = random.Random(SEED)
    from_traces = trace_adverts()
    line_in_traces = sum(1 for _, s in from_traces if LINE_UUID in s)
    generated = generated_adverts(rng, line_in_traces)
    adverts = from_traces + [a for group in generated.values() for a in group]
    rng.shuffle(adverts)
    packets = [encode.advertising_data(m, s) for m, s in adverts]

    mix = mix_counts(adverts)
    print(f"mix: {len(adverts)} adverts: {len(from_traces)} from the sample traces, generated:")
    for source, group in generated.items():
        print(f"  {source:17} {len(group):6}")
    print("  by outcome: " + ", ".join(f"{k} {v}" for k, v in mix.items()))

    ours = best_rate(OURS_REPEATS, lambda: fresh(adverts), run_decoder)
    plain = best_rate(OURS_REPEATS, lambda: fresh(adverts), run_decode_function)
    check = check_beacontools(adverts, packets)
    theirs = best_rate(
        BEACONTOOLS_REPEATS, lambda: [bytes(bytearray(p)) for p in packets], run_beacontools
    )
    ratio = ours / theirs

    print(f"BeaconDecoder.decode : {ours:12,.0f} adverts/s ({1e6 / ours:.2f} us each)")
    print(f"decode() (no cache)  : {plain:12,.0f} adverts/s ({1e6 / plain:.2f} us each)")
    print(f"beacontools          : {theirs:12,.0f} adverts/s ({1e6 / theirs:.2f} us each)")
    print(
        f"beacontools recognised {check['recognised']} of {len(adverts)} adverts "
        f"({', '.join(f'{k} {v}' for k, v in sorted(check['by_type'].items()))}); "
        f"identities agree with ours on {check['identity_agree']}, "
        f"differ on {check['identity_disagree']}"
    )
    print(f"ratio: {ratio:.1f}x beacontools")
    print(
        json.dumps(
            {
                "adverts_per_s": round(ours),
                "beacontools_adverts_per_s": round(theirs),
                "ratio_vs_beacontools": round(ratio, 1),
                "decode_fn_adverts_per_s": round(plain),
                "beacontools_recognised": check["recognised"],
                "python": sys.version.split()[0],
                "mix": {"adverts": len(adverts), "from_traces": len(from_traces), **mix},
            }
        )
    )


if __name__ == "__main__":
    main()
