"""Beacon decoding: raw advert fields in, a beacon identity (or nothing) out. Pure.

Identity strings follow docs/traces.md. Anything that is not a well-formed beacon
returns None; it never raises, because the radio hears all sorts of things.

`decode()` is a plain function. `BeaconDecoder` adds an allow-list, counters
(one bump per advert, so the counters add up to the adverts decoded) and a
bounded cache of decoded payloads: beacons repeat their payload many times a
second, so after the first advert a beacon costs a dict lookup. No clock, no
I/O. The wire formats themselves are in `edge.presence.formats`.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Final

from edge.presence.allow import ALLOW_ALL, AllowList
from edge.presence.formats import (
    ALTBEACON_CODE,
    APPLE,
    APPLE_IBEACON_TYPE,
    EDDYSTONE_URL,
    EDDYSTONE_UUID,
    LINE_IBEACON,
    LINE_UUID,
    NOT_ALLOWED,
    OUT_NOT_A_BEACON,
    OUT_NOT_ALLOWED,
    OUTCOMES,
    RANK_VISITOR,
    VISITOR_KINDS,
    Beacon,
    EddystoneUrl,
    Frame,
    Outcome,
    Telemetry,
    classify_apple,
    classify_eddystone,
    classify_line,
    classify_manufacturer,
    decode_altbeacon,
    decode_eddystone,
    decode_ibeacon,
    decode_line,
)

__all__ = [
    "APPLE",
    "EDDYSTONE_UUID",
    "LINE_UUID",
    "OUTCOMES",
    "AllowList",
    "Beacon",
    "BeaconDecoder",
    "EddystoneUrl",
    "Frame",
    "Telemetry",
    "decode",
    "decode_altbeacon",
    "decode_eddystone",
    "decode_frame",
    "decode_ibeacon",
    "decode_line",
]

IBEACON_TYPE: Final = bytes([APPLE_IBEACON_TYPE])
DEFAULT_CACHE_SIZE: Final = 4096  # payloads per source, about 0.3 kB each
# Outcomes worth caching: the same payload always gives the same answer and
# beacons repeat it. Telemetry changes every frame; malformed frames and noise
# are mostly one-offs (Apple continuity payloads rotate) and cheap to reject.
_CACHED: Final = frozenset((*VISITOR_KINDS, EDDYSTONE_URL, LINE_IBEACON, NOT_ALLOWED))


def _outcome(manufacturer_data: Mapping[int, bytes], service_data: Mapping[str, bytes]) -> Outcome:
    best = OUT_NOT_A_BEACON
    for cid, payload in manufacturer_data.items():
        out = classify_apple(payload) if cid == APPLE else classify_manufacturer(payload)
        if out[2] == RANK_VISITOR:
            return out
        if out[2] > best[2]:
            best = out
    for uuid, payload in service_data.items():
        if uuid == EDDYSTONE_UUID:
            out = classify_eddystone(payload)
        elif uuid == LINE_UUID:
            out = classify_line(payload)
        else:
            continue
        if out[2] == RANK_VISITOR:
            return out
        if out[2] > best[2]:
            best = out
    return best


def decode_frame(
    manufacturer_data: Mapping[int, bytes], service_data: Mapping[str, bytes]
) -> Frame | None:
    """The most telling frame in one advert: a visitor Beacon, else a URL or telemetry."""
    return _outcome(manufacturer_data, service_data)[1]


def decode(
    manufacturer_data: Mapping[int, bytes], service_data: Mapping[str, bytes]
) -> Beacon | None:
    """The visitor beacon in one advert, or None. No allow-list: see BeaconDecoder."""
    frame = _outcome(manufacturer_data, service_data)[1]
    return frame if type(frame) is Beacon else None


class BeaconDecoder:
    """`decode()` with an allow-list, counters and a cache. Pure: no clock, no I/O.

    `counters` holds one entry per name in OUTCOMES and gains exactly one per
    advert: the visitor kind decoded, or why there was none ("eddystone-url",
    "telemetry", "line_ibeacon", "not_allowed", "malformed", "not_a_beacon").
    When an advert holds several data elements the most telling one counts
    (visitor > recognised non-visitor > malformed > noise; first on a tie).

    The cache maps payload bytes to their outcome (allow-list applied), per
    source; it holds at most `cache_size` payloads per source and is emptied
    when full (a store has far fewer beacons than that; only rotating EIDs fill it).
    """

    def __init__(self, allow: AllowList = ALLOW_ALL, cache_size: int = DEFAULT_CACHE_SIZE) -> None:
        if cache_size < 1:
            raise ValueError(f"cache_size must be at least 1, got {cache_size}")
        self.allow = allow
        self.cache_size = cache_size
        self.counters: dict[str, int] = dict.fromkeys(OUTCOMES, 0)
        self._apple: dict[bytes, Outcome] = {}
        self._other: dict[bytes, Outcome] = {}
        self._eddystone: dict[bytes, Outcome] = {}
        self._line: dict[bytes, Outcome] = {}

    def _miss(
        self, cache: dict[bytes, Outcome], payload: bytes, classify: Callable[[bytes], Outcome]
    ) -> Outcome:
        out = classify(payload)
        frame = out[1]
        if type(frame) is Beacon and not self.allow.permits(frame):
            out = OUT_NOT_ALLOWED
        if out[0] in _CACHED:
            if len(cache) >= self.cache_size:
                cache.clear()
            cache[payload] = out
        return out

    def decode_frame(
        self, manufacturer_data: Mapping[int, bytes], service_data: Mapping[str, bytes]
    ) -> Frame | None:
        """The most telling allowed frame in one advert (a Beacon, URL, telemetry) or None."""
        best = OUT_NOT_A_BEACON
        if manufacturer_data:
            for cid, payload in manufacturer_data.items():
                if cid == APPLE and payload[:1] == IBEACON_TYPE:
                    out = self._apple.get(payload)
                    if out is None:
                        out = self._miss(self._apple, payload, classify_apple)
                elif payload[:2] == ALTBEACON_CODE:  # under Apple's id too
                    out = self._other.get(payload)
                    if out is None:
                        out = self._miss(self._other, payload, classify_manufacturer)
                else:
                    continue
                if out[2] == RANK_VISITOR:
                    self.counters[out[0]] += 1
                    return out[1]
                if out[2] > best[2]:
                    best = out
        if service_data:
            for uuid, payload in service_data.items():
                if uuid == EDDYSTONE_UUID:
                    out = self._eddystone.get(payload)
                    if out is None:
                        out = self._miss(self._eddystone, payload, classify_eddystone)
                elif uuid == LINE_UUID:
                    out = self._line.get(payload)
                    if out is None:
                        out = self._miss(self._line, payload, classify_line)
                else:
                    continue
                if out[2] == RANK_VISITOR:
                    self.counters[out[0]] += 1
                    return out[1]
                if out[2] > best[2]:
                    best = out
        self.counters[best[0]] += 1
        return best[1]

    def decode(
        self, manufacturer_data: Mapping[int, bytes], service_data: Mapping[str, bytes]
    ) -> Beacon | None:
        """The allowed visitor beacon in one advert, or None."""
        frame = self.decode_frame(manufacturer_data, service_data)
        return frame if type(frame) is Beacon else None
