"""Beacon decoding: hand-built payloads to the identity strings of ADVERTS.md."""

from __future__ import annotations

import re
import uuid

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from edge.presence.decode import APPLE, EDDYSTONE_UUID, Beacon, decode

# ADVERTS.md sample: company 76 (Apple), iBeacon f7826da6-..., major 1, minor 2, tx 0xc5.
SAMPLE_IBEACON_HEX = "0215f7826da64fa24e988024bc5b71e0893e00010002c5"

IBEACON_RE = re.compile(
    r"ibeacon:[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}:\d+:\d+"
)
EDDYSTONE_RE = re.compile(r"eddystone-uid:[0-9a-f]{20}:[0-9a-f]{12}")


def ibeacon(u: uuid.UUID, major: int, minor: int, tx: int) -> bytes:
    """An iBeacon manufacturer payload (company id stripped, as bleak reports it)."""
    return (
        b"\x02\x15"
        + u.bytes
        + major.to_bytes(2, "big")
        + minor.to_bytes(2, "big")
        + tx.to_bytes(1, "big", signed=True)
    )


def eddystone_uid(namespace: bytes, instance: bytes, tx0: int, rfu: bool = True) -> bytes:
    """An Eddystone-UID frame: type 0x00, ranging data (tx at 0 m), ns, instance, RFU."""
    frame = b"\x00" + tx0.to_bytes(1, "big", signed=True) + namespace + instance
    return frame + (b"\x00\x00" if rfu else b"")


# -- iBeacon -----------------------------------------------------------------------


def test_sample_ibeacon_from_adverts_md() -> None:
    beacon = decode({76: bytes.fromhex(SAMPLE_IBEACON_HEX)}, {})
    assert beacon is not None
    assert beacon.identity == "ibeacon:f7826da6-4fa2-4e98-8024-bc5b71e0893e:1:2"
    assert beacon.kind == "ibeacon"
    assert beacon.tx_power_1m == -59  # 0xc5 is signed


def test_ibeacon_identity_uses_lowercase_uuid_and_decimal_major_minor() -> None:
    u = uuid.UUID("E2C56DB5-DFFB-48D2-B060-D0F5A71096E0")
    beacon = decode({APPLE: ibeacon(u, 65535, 256, -70)}, {})
    assert beacon is not None
    assert beacon.identity == "ibeacon:e2c56db5-dffb-48d2-b060-d0f5a71096e0:65535:256"
    assert beacon.tx_power_1m == -70


def test_ibeacon_positive_tx_power_stays_positive() -> None:
    beacon = decode({APPLE: ibeacon(uuid.UUID(int=1), 0, 0, 4)}, {})
    assert beacon is not None
    assert beacon.tx_power_1m == 4


@pytest.mark.parametrize(
    "payload_hex",
    [
        # Apple continuity messages seen from every iPhone: not beacons.
        "10054b1c7a3b12",  # Nearby Info
        "0c0e00c7aa6f2b8ad0e9e4d7fd5a52a6",  # Handoff
        "1006371d6a1f5c68",  # Nearby Info, other flags
        "099ccfb7f4",  # from the demo trace
        # Nearby Info padded to exactly the iBeacon length: the prefix decides.
        "1015" + "00" * 21,
        # AirPlay target followed by something else.
        "0913" + "ab" * 21,
    ],
)
def test_apple_continuity_is_not_an_ibeacon(payload_hex: str) -> None:
    assert decode({APPLE: bytes.fromhex(payload_hex)}, {}) is None


def test_ibeacon_bytes_under_another_company_are_not_an_ibeacon() -> None:
    payload = bytes.fromhex(SAMPLE_IBEACON_HEX)
    assert decode({0x0059: payload}, {}) is None
    assert decode({0x004D: payload}, {}) is None


@pytest.mark.parametrize("cut", [0, 1, 2, 10, 18, 22])
def test_truncated_ibeacon_is_none(cut: int) -> None:
    assert decode({APPLE: bytes.fromhex(SAMPLE_IBEACON_HEX)[:cut]}, {}) is None


@pytest.mark.parametrize("extra", [b"\x00", b"\x00\x00", b"\xff" * 10])
def test_overlong_ibeacon_is_none(extra: bytes) -> None:
    assert decode({APPLE: bytes.fromhex(SAMPLE_IBEACON_HEX) + extra}, {}) is None


# -- Eddystone-UID ------------------------------------------------------------------


NAMESPACE = bytes.fromhex("edd1ebeac04e5defa017")
INSTANCE = bytes.fromhex("0123456789ab")


def test_eddystone_uid_identity_and_power_at_one_metre() -> None:
    beacon = decode({}, {EDDYSTONE_UUID: eddystone_uid(NAMESPACE, INSTANCE, -18)})
    assert beacon is not None
    assert beacon.identity == "eddystone-uid:edd1ebeac04e5defa017:0123456789ab"
    assert beacon.kind == "eddystone-uid"
    # Eddystone advertises power at 0 m; 1 m is 41 dB less.
    assert beacon.tx_power_1m == -18 - 41


def test_eddystone_uid_without_rfu_bytes_still_decodes() -> None:
    beacon = decode({}, {EDDYSTONE_UUID: eddystone_uid(NAMESPACE, INSTANCE, -20, rfu=False)})
    assert beacon is not None
    assert beacon.identity == "eddystone-uid:edd1ebeac04e5defa017:0123456789ab"


@pytest.mark.parametrize("cut", [0, 1, 2, 11, 12, 17])
def test_truncated_eddystone_uid_is_none(cut: int) -> None:
    frame = eddystone_uid(NAMESPACE, INSTANCE, -18)[:cut]
    assert decode({}, {EDDYSTONE_UUID: frame}) is None


def test_overlong_eddystone_uid_is_none() -> None:
    frame = eddystone_uid(NAMESPACE, INSTANCE, -18) + b"\x00" * 10
    assert decode({}, {EDDYSTONE_UUID: frame}) is None


@pytest.mark.parametrize("frame_type", [0x10, 0x20, 0x30, 0x40])
def test_other_eddystone_frames_are_not_uid(frame_type: int) -> None:
    frame = bytes([frame_type]) + eddystone_uid(NAMESPACE, INSTANCE, -18)[1:]
    assert decode({}, {EDDYSTONE_UUID: frame}) is None


def test_uid_frame_under_another_service_uuid_is_not_eddystone() -> None:
    other = "0000fe9a-0000-1000-8000-00805f9b34fb"
    assert decode({}, {other: eddystone_uid(NAMESPACE, INSTANCE, -18)}) is None


def test_eddystone_found_beside_apple_continuity() -> None:
    beacon = decode(
        {APPLE: bytes.fromhex("10054b1c7a3b12")},
        {EDDYSTONE_UUID: eddystone_uid(NAMESPACE, INSTANCE, -18)},
    )
    assert beacon is not None
    assert beacon.kind == "eddystone-uid"


def test_nothing_is_nothing() -> None:
    assert decode({}, {}) is None


# -- properties ----------------------------------------------------------------------


company_ids = st.one_of(st.just(APPLE), st.integers(0, 0xFFFF))
service_uuids = st.one_of(st.just(EDDYSTONE_UUID), st.uuids().map(str))
# Random bytes, and random bytes that start like a beacon so the deeper paths run.
payloads = st.one_of(
    st.binary(max_size=40),
    st.binary(max_size=30).map(lambda b: b"\x02\x15" + b),
    st.binary(max_size=30).map(lambda b: b"\x00" + b),
)


@settings(max_examples=200, deadline=None)
@given(
    manufacturer=st.dictionaries(company_ids, payloads, max_size=3),
    service=st.dictionaries(service_uuids, payloads, max_size=3),
)
def test_random_bytes_never_raise(
    manufacturer: dict[int, bytes], service: dict[str, bytes]
) -> None:
    beacon = decode(manufacturer, service)
    if beacon is not None:
        assert isinstance(beacon, Beacon)
        if beacon.kind == "ibeacon":
            assert IBEACON_RE.fullmatch(beacon.identity)
            assert manufacturer.get(APPLE, b"")[:2] == b"\x02\x15"
        else:
            assert beacon.kind == "eddystone-uid"
            assert EDDYSTONE_RE.fullmatch(beacon.identity)
            assert service.get(EDDYSTONE_UUID, b"\xff")[:1] == b"\x00"


@settings(max_examples=200, deadline=None)
@given(
    u=st.uuids(),
    major=st.integers(0, 0xFFFF),
    minor=st.integers(0, 0xFFFF),
    tx=st.integers(-128, 127),
)
def test_ibeacon_round_trip(u: uuid.UUID, major: int, minor: int, tx: int) -> None:
    beacon = decode({APPLE: ibeacon(u, major, minor, tx)}, {})
    assert beacon is not None
    assert beacon.identity == f"ibeacon:{u}:{major}:{minor}"
    assert beacon.tx_power_1m == tx


@settings(max_examples=200, deadline=None)
@given(
    namespace=st.binary(min_size=10, max_size=10),
    instance=st.binary(min_size=6, max_size=6),
    tx0=st.integers(-128, 127),
)
def test_eddystone_uid_round_trip(namespace: bytes, instance: bytes, tx0: int) -> None:
    beacon = decode({}, {EDDYSTONE_UUID: eddystone_uid(namespace, instance, tx0)})
    assert beacon is not None
    assert beacon.identity == f"eddystone-uid:{namespace.hex()}:{instance.hex()}"
    assert beacon.tx_power_1m == tx0 - 41
