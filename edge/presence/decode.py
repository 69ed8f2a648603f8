"""Beacon decoding: raw advert fields in, a beacon identity (or nothing) out. Pure.

Identity strings follow ADVERTS.md. Anything that is not a well-formed beacon
returns None; it never raises, because the radio hears all sorts of things.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

APPLE = 0x004C
EDDYSTONE_UUID = "0000feaa-0000-1000-8000-00805f9b34fb"
IBEACON_PREFIX = b"\x02\x15"
IBEACON_LEN = 23  # 0x02 0x15 + 16 uuid + 2 major + 2 minor + 1 tx power
EDDYSTONE_UID_FRAME = 0x00
EDDYSTONE_UID_LENGTHS = (18, 20)  # frame, tx, 10 namespace, 6 instance, (2 reserved)


@dataclass(frozen=True, slots=True)
class Beacon:
    """A decoded beacon: who (`identity`) and its calibrated power at 1 m, if known."""

    identity: str
    kind: str
    tx_power_1m: int | None


def _signed(byte: int) -> int:
    return byte - 256 if byte > 127 else byte


def decode_ibeacon(payload: bytes) -> Beacon | None:
    """iBeacon from Apple manufacturer data (company id already stripped)."""
    if len(payload) != IBEACON_LEN or not payload.startswith(IBEACON_PREFIX):
        return None
    u = payload[2:18].hex()
    uuid = f"{u[0:8]}-{u[8:12]}-{u[12:16]}-{u[16:20]}-{u[20:32]}"
    major = int.from_bytes(payload[18:20], "big")
    minor = int.from_bytes(payload[20:22], "big")
    return Beacon(f"ibeacon:{uuid}:{major}:{minor}", "ibeacon", _signed(payload[22]))


def decode_eddystone(payload: bytes) -> Beacon | None:
    """Eddystone-UID from 0xFEAA service data (tx power there is at 0 m: -41 dB to 1 m)."""
    if len(payload) not in EDDYSTONE_UID_LENGTHS or payload[0] != EDDYSTONE_UID_FRAME:
        return None
    namespace, instance = payload[2:12].hex(), payload[12:18].hex()
    return Beacon(
        f"eddystone-uid:{namespace}:{instance}", "eddystone-uid", _signed(payload[1]) - 41
    )


def decode(
    manufacturer_data: Mapping[int, bytes], service_data: Mapping[str, bytes]
) -> Beacon | None:
    """The beacon in one advert, or None."""
    apple = manufacturer_data.get(APPLE)
    if apple is not None:
        beacon = decode_ibeacon(apple)
        if beacon is not None:
            return beacon
    eddystone = service_data.get(EDDYSTONE_UUID)
    if eddystone is not None:
        return decode_eddystone(eddystone)
    return None
