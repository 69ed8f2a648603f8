"""Beacon decoding: hand-built payloads to the identity strings of docs/traces.md."""

from __future__ import annotations

import re
import uuid

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from edge.presence import encode
from edge.presence.allow import AllowList, InvalidAllowEntry
from edge.presence.decode import (
    APPLE,
    EDDYSTONE_UUID,
    LINE_UUID,
    OUTCOMES,
    Beacon,
    BeaconDecoder,
    EddystoneUrl,
    Telemetry,
    decode,
    decode_frame,
)
from edge.presence.formats import LINE_IBEACON_UUID
from tests.support.examples import examples

# The sample of docs/traces.md: company 76 (Apple), iBeacon f7826da6-..., major 1, minor 2, tx 0xc5.
SAMPLE_IBEACON_HEX = "0215f7826da64fa24e988024bc5b71e0893e00010002c5"

IBEACON_RE = re.compile(
    r"ibeacon:[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}:\d+:\d+"
)
EDDYSTONE_RE = re.compile(r"eddystone-uid:[0-9a-f]{20}:[0-9a-f]{12}")
IDENTITY_RES = {
    "ibeacon": IBEACON_RE,
    "eddystone-uid": EDDYSTONE_RE,
    "eddystone-eid": re.compile(r"eddystone-eid:[0-9a-f]{16}"),
    "altbeacon": re.compile(r"altbeacon:[0-9a-f]{32}:\d+:\d+"),
    "line": re.compile(r"line:[0-9a-f]{10}"),
}


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
service_uuids = st.one_of(st.sampled_from([EDDYSTONE_UUID, LINE_UUID]), st.uuids().map(str))
# Random bytes, and random bytes that start like a beacon so the deeper paths run.
payloads = st.one_of(
    st.binary(max_size=40),
    st.binary(max_size=30).map(lambda b: b"\x02\x15" + b),
    st.binary(max_size=30).map(lambda b: b"\xbe\xac" + b),
    st.tuples(st.sampled_from([0x00, 0x02, 0x10, 0x20, 0x30]), st.binary(max_size=30)).map(
        lambda t: bytes([t[0]]) + t[1]
    ),
)


@settings(max_examples=examples(500), deadline=None)
@given(
    manufacturer=st.dictionaries(company_ids, payloads, max_size=3),
    service=st.dictionaries(service_uuids, payloads, max_size=3),
)
def test_random_bytes_never_raise(
    manufacturer: dict[int, bytes], service: dict[str, bytes]
) -> None:
    beacon = decode(manufacturer, service)
    decoder = BeaconDecoder()
    assert decoder.decode(manufacturer, service) == beacon
    assert sum(decoder.counters.values()) == 1
    decode_frame(manufacturer, service)
    if beacon is not None:
        assert isinstance(beacon, Beacon)
        assert IDENTITY_RES[beacon.kind].fullmatch(beacon.identity)
        if beacon.kind == "ibeacon":
            assert manufacturer.get(APPLE, b"")[:2] == b"\x02\x15"
        elif beacon.kind == "eddystone-uid":
            assert service.get(EDDYSTONE_UUID, b"\xff")[:1] == b"\x00"
        elif beacon.kind == "eddystone-eid":
            assert service.get(EDDYSTONE_UUID, b"\xff")[:1] == b"\x30"
        elif beacon.kind == "line":
            assert service.get(LINE_UUID, b"\xff")[:1] == b"\x02"
        else:
            assert any(p[:2] == b"\xbe\xac" for p in manufacturer.values())


@settings(max_examples=examples(200), deadline=None)
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


@settings(max_examples=examples(200), deadline=None)
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


# -- Eddystone-EID, URL, TLM -------------------------------------------------------


def test_eddystone_eid_identity_and_power_at_one_metre() -> None:
    beacon = decode(
        {}, {EDDYSTONE_UUID: encode.eddystone_eid(bytes.fromhex("0011223344aabbcc"), -20)}
    )
    assert beacon == Beacon("eddystone-eid:0011223344aabbcc", "eddystone-eid", -61)


@pytest.mark.parametrize("size", [2, 9, 11, 18])
def test_eddystone_eid_of_wrong_length_is_malformed(size: int) -> None:
    decoder = BeaconDecoder()
    frame = b"\x30\xee" + bytes(size - 2)
    assert decoder.decode({}, {EDDYSTONE_UUID: frame}) is None
    assert decoder.counters["malformed"] == 1


def test_eddystone_url_is_not_a_visitor_but_is_decoded() -> None:
    frame = encode.eddystone_url("https://www.example.com/x", -18)
    assert frame.hex() == "10ee016578616d706c650078"  # scheme 0x01, ".com/" is 0x00
    assert decode({}, {EDDYSTONE_UUID: frame}) is None
    decoder = BeaconDecoder()
    assert decoder.decode({}, {EDDYSTONE_UUID: frame}) is None
    assert decoder.decode_frame({}, {EDDYSTONE_UUID: frame}) == EddystoneUrl(
        "https://www.example.com/x", -59
    )
    assert decoder.counters["eddystone-url"] == 2
    assert decoder.counters["eddystone-uid"] == 0


@pytest.mark.parametrize(
    "frame_hex",
    [
        "10ee04",  # scheme 4 does not exist
        "10ee0161200a",  # a space: reserved
        "10ee0161ff",  # 0xff: reserved
        "10ee",  # no scheme
        "10ee03" + "61" * 18,  # 18 URL bytes: one too many
    ],
)
def test_bad_eddystone_url_is_malformed(frame_hex: str) -> None:
    decoder = BeaconDecoder()
    assert decoder.decode_frame({}, {EDDYSTONE_UUID: bytes.fromhex(frame_hex)}) is None
    assert decoder.counters["malformed"] == 1


def test_eddystone_tlm_from_the_sample_trace() -> None:
    decoder = BeaconDecoder()
    frame = bytes.fromhex("20000bb815800000000400000002")
    assert decoder.decode({}, {EDDYSTONE_UUID: frame}) is None
    assert decoder.decode_frame({}, {EDDYSTONE_UUID: frame}) == Telemetry(
        battery_mv=3000, temperature_c=21.5, adv_count=4, uptime_s=0.2
    )
    assert decoder.counters["telemetry"] == 2


def test_eddystone_tlm_unmeasured_fields_are_none() -> None:
    frame = encode.eddystone_tlm(None, None, 7, 1.5)
    assert frame.hex() == "2000" + "0000" + "8000" + "00000007" + "0000000f"
    assert decode_frame({}, {EDDYSTONE_UUID: frame}) == Telemetry(None, None, 7, 1.5)


def test_encrypted_eddystone_tlm_is_telemetry_without_figures() -> None:
    frame = encode.eddystone_etlm(bytes(range(12)), 0x1234, 0xABCD)
    assert decode_frame({}, {EDDYSTONE_UUID: frame}) == Telemetry(
        None, None, None, None, encrypted=True
    )


@pytest.mark.parametrize("frame_hex", ["2000", "2002" + "00" * 12, "20000bb8158000000004000000"])
def test_bad_eddystone_tlm_is_malformed(frame_hex: str) -> None:
    decoder = BeaconDecoder()
    assert decoder.decode_frame({}, {EDDYSTONE_UUID: bytes.fromhex(frame_hex)}) is None
    assert decoder.counters["malformed"] == 1


def test_eddystone_uid_beside_its_tlm_counts_once_as_the_visitor() -> None:
    decoder = BeaconDecoder()
    beacon = decoder.decode({}, {EDDYSTONE_UUID: eddystone_uid(NAMESPACE, INSTANCE, -18)})
    assert beacon is not None
    assert decoder.counters == {**dict.fromkeys(OUTCOMES, 0), "eddystone-uid": 1}


# -- AltBeacon ------------------------------------------------------------------------

ALT_ID1 = bytes.fromhex("2f234454cf6d4a0fadf2f4911ba9ffa6")


@pytest.mark.parametrize("company", [0x0118, 0xFFFF, 0x0000, APPLE])
def test_altbeacon_identity_under_any_company(company: int) -> None:
    payload = encode.altbeacon(ALT_ID1, 1, 65535, -65, reserved=0x99)
    assert payload.hex() == "beac2f234454cf6d4a0fadf2f4911ba9ffa60001ffffbf99"
    beacon = decode({company: payload}, {})
    assert beacon == Beacon("altbeacon:2f234454cf6d4a0fadf2f4911ba9ffa6:1:65535", "altbeacon", -65)


@pytest.mark.parametrize("size", [2, 10, 23, 25, 30])
def test_altbeacon_of_wrong_length_is_malformed(size: int) -> None:
    payload = (encode.altbeacon(ALT_ID1, 1, 2, -65) + bytes(10))[:size]
    decoder = BeaconDecoder()
    assert decoder.decode({0x0118: payload}, {}) is None
    assert decoder.counters["malformed"] == 1


# -- LINE -----------------------------------------------------------------------------


def test_line_beacon_from_the_sample_trace() -> None:
    # Frame 0x02, hwid 6d5e76d31b, tx 0xc5, 7-byte secure message.
    beacon = decode({}, {LINE_UUID: bytes.fromhex("026d5e76d31bc500000000000000")})
    assert beacon == Beacon("line:6d5e76d31b", "line", -59)


def test_line_simple_beacon_examples_from_lines_spec() -> None:
    # github.com/line/line-simple-beacon README: both examples, whole adverts.
    example1 = encode.line(
        bytes.fromhex("32AF519E88"), None, bytes.fromhex("0032006900FAFFFF000199FF88")
    )
    raw = encode.advertising_data({}, {LINE_UUID: example1})
    assert raw.hex().upper() == ("02010603036FFE17166FFE0232AF519E887F0032006900FAFFFF000199FF88")
    assert decode({}, {LINE_UUID: example1}) == Beacon("line:32af519e88", "line", None)
    example2 = encode.line(bytes.fromhex("8ADFAF4326"), None, bytes.fromhex("20170228"))
    assert decode({}, {LINE_UUID: example2}) == Beacon("line:8adfaf4326", "line", None)


@pytest.mark.parametrize(
    "frame_hex",
    [
        "02",
        "026d5e76d31bc5",  # no message
        "026d5e76d31bc5" + "00" * 14,  # 14 message bytes: one too many
        "036d5e76d31bc500000000000000",  # frame type 3 does not exist
    ],
)
def test_bad_line_frame_is_malformed(frame_hex: str) -> None:
    decoder = BeaconDecoder()
    assert decoder.decode({}, {LINE_UUID: bytes.fromhex(frame_hex)}) is None
    assert decoder.counters["malformed"] == 1


def test_line_fixed_ibeacon_is_not_a_second_visitor() -> None:
    # docs: developers.line.biz/en/docs/messaging-api/beacon-device-spec/#ibeacon-packets
    ibeacon_payload = encode.line_ibeacon(-59)
    assert ibeacon_payload.hex() == "0215d0d2ce249efc11e582c41c6a7a17ef384c494e45c5"
    decoder = BeaconDecoder()
    line_frame = encode.line(bytes.fromhex("9ac86aae44"), -59, bytes(7))
    adverts: list[tuple[dict[int, bytes], dict[str, bytes]]] = [
        ({APPLE: ibeacon_payload}, {}),
        ({}, {LINE_UUID: line_frame}),
    ]
    seen = set()
    for _ in range(5):  # the beacon alternates its two adverts; the cache sees both again
        for manufacturer, service in adverts:
            beacon = decoder.decode(manufacturer, service)
            if beacon is not None:
                seen.add(beacon.identity)
    assert seen == {"line:9ac86aae44"}
    assert decoder.counters["line_ibeacon"] == 5
    assert decoder.counters["line"] == 5
    assert decoder.counters["ibeacon"] == 0
    assert decode({APPLE: ibeacon_payload}, {}) is None


def test_any_ibeacon_under_lines_uuid_is_lines() -> None:
    payload = encode.ibeacon(LINE_IBEACON_UUID.upper(), 1, 2, -59)
    decoder = BeaconDecoder()
    assert decoder.decode({APPLE: payload}, {}) is None
    assert decoder.counters["line_ibeacon"] == 1


# -- Apple continuity -----------------------------------------------------------------

CONTINUITY_TYPES = [
    0x03,
    0x05,
    0x06,
    0x07,
    0x08,
    0x09,
    0x0A,
    0x0B,
    0x0C,
    0x0D,
    0x0E,
    0x0F,
    0x10,
    0x12,
    0x16,
]


@pytest.mark.parametrize(
    "payload_hex",
    [
        # From the sample traces.
        "0cf19af30aa20db1a4545ee6d2fb27512e22c2",  # Handoff
        "07d569abe19bbc003d2f45d471fba51c0563e6b9763a",  # AirPods
        "12a082ccd8f653d941ad19857985b0581f3776841ab0",  # Find My
        "1289ebeca75c71f4fa4a023eae7ddefc0e3d730ee4932f",  # Find My, iBeacon length
        "0997a912c0b851f5db7be0b48b584690d3a4100fa8db4b",  # AirPlay, iBeacon length
        "05" + "15" + "00" * 21,  # AirDrop shaped like an iBeacon
    ],
)
def test_apple_continuity_counts_as_not_a_beacon(payload_hex: str) -> None:
    decoder = BeaconDecoder()
    assert decoder.decode_frame({APPLE: bytes.fromhex(payload_hex)}, {}) is None
    assert decoder.counters["not_a_beacon"] == 1


@settings(max_examples=examples(300), deadline=None)
@given(
    kind=st.sampled_from(CONTINUITY_TYPES),
    length=st.integers(0, 255),
    body=st.binary(max_size=40),
)
def test_apple_continuity_never_decodes(kind: int, length: int, body: bytes) -> None:
    payload = bytes([kind, length]) + body
    decoder = BeaconDecoder()
    assert decode({APPLE: payload}, {}) is None
    assert decoder.decode_frame({APPLE: payload}, {}) is None
    assert decoder.counters["not_a_beacon"] == 1


# -- malformed and precedence ---------------------------------------------------------


@pytest.mark.parametrize(
    "advert",
    [
        ({APPLE: bytes.fromhex(SAMPLE_IBEACON_HEX)[:12]}, {}),
        ({APPLE: bytes.fromhex(SAMPLE_IBEACON_HEX) + b"\x00"}, {}),
        ({APPLE: b"\x02\x16" + bytes(21)}, {}),  # iBeacon type, wrong length byte
        ({APPLE: b"\x02"}, {}),
        ({}, {EDDYSTONE_UUID: b""}),
        ({}, {EDDYSTONE_UUID: b"\x40" + bytes(19)}),  # no such frame type
        ({}, {LINE_UUID: b""}),
    ],
)
def test_malformed_frames_are_counted(
    advert: tuple[dict[int, bytes], dict[str, bytes]],
) -> None:
    decoder = BeaconDecoder()
    assert decoder.decode(*advert) is None
    assert decoder.counters["malformed"] == 1
    assert sum(decoder.counters.values()) == 1


def test_noise_is_counted_as_not_a_beacon() -> None:
    decoder = BeaconDecoder()
    other = "0000fe9a-0000-1000-8000-00805f9b34fb"
    for advert in [
        ({}, {}),
        ({0x0006: b"\x01\x09"}, {}),
        ({}, {other: b"\x00" * 20}),
        ({APPLE: b""}, {}),
    ]:
        assert decoder.decode(*advert) is None
    assert decoder.counters["not_a_beacon"] == 4


def test_visitor_wins_over_malformed_and_noise_in_one_advert() -> None:
    decoder = BeaconDecoder()
    beacon = decoder.decode(
        {APPLE: b"\x02\x15\x00", 0x0006: b"\x01"},
        {EDDYSTONE_UUID: eddystone_uid(NAMESPACE, INSTANCE, -18)},
    )
    assert beacon is not None
    assert beacon.kind == "eddystone-uid"
    assert decoder.counters["eddystone-uid"] == 1
    assert sum(decoder.counters.values()) == 1


def test_telemetry_wins_over_malformed_in_one_advert() -> None:
    decoder = BeaconDecoder()
    frame = decoder.decode_frame(
        {APPLE: b"\x02\x15\x00"}, {EDDYSTONE_UUID: encode.eddystone_tlm(3000, 20.0, 1, 1.0)}
    )
    assert isinstance(frame, Telemetry)
    assert decoder.counters["telemetry"] == 1
    assert decoder.counters["malformed"] == 0


# -- allow-list -----------------------------------------------------------------------

OURS = uuid.UUID("f7826da6-4fa2-4e98-8024-bc5b71e0893e")
THEIRS = uuid.UUID("e2c56db5-dffb-48d2-b060-d0f5a71096e0")
OTHER_NAMESPACE = bytes.fromhex("8b0ca750e7a74e14bd99")


def test_empty_allow_list_allows_all() -> None:
    decoder = BeaconDecoder(AllowList())
    assert decoder.decode({APPLE: ibeacon(THEIRS, 1, 2, -59)}, {}) is not None
    assert decoder.decode({}, {EDDYSTONE_UUID: eddystone_uid(OTHER_NAMESPACE, INSTANCE, -18)})
    assert decoder.decode({}, {LINE_UUID: encode.line(b"\x01" * 5, None, b"\x00")})
    assert decoder.counters["not_allowed"] == 0


def test_allow_list_passes_ours_and_counts_others() -> None:
    allow = AllowList.from_lists(
        ibeacon_uuids=[str(OURS).upper()],
        eddystone_namespaces=[NAMESPACE.hex().upper()],
        line_hwids=["9AC86AAE44"],
    )
    decoder = BeaconDecoder(allow)
    for _ in range(3):  # cached decisions count the same as fresh ones
        assert decoder.decode({APPLE: ibeacon(OURS, 1, 2, -59)}, {}) is not None
        assert decoder.decode({APPLE: ibeacon(THEIRS, 1, 2, -59)}, {}) is None
        uid = eddystone_uid(NAMESPACE, INSTANCE, -18)
        assert decoder.decode({}, {EDDYSTONE_UUID: uid}) is not None
        other_uid = eddystone_uid(OTHER_NAMESPACE, INSTANCE, -18)
        assert decoder.decode({}, {EDDYSTONE_UUID: other_uid}) is None
        ours_line = encode.line(bytes.fromhex("9ac86aae44"), -59, bytes(7))
        assert decoder.decode({}, {LINE_UUID: ours_line}) is not None
        theirs_line = encode.line(bytes.fromhex("438351de9f"), -59, bytes(7))
        assert decoder.decode({}, {LINE_UUID: theirs_line}) is None
    assert decoder.counters["not_allowed"] == 9
    assert decoder.counters["ibeacon"] == 3
    assert decoder.counters["eddystone-uid"] == 3
    assert decoder.counters["line"] == 3


def test_allow_list_only_filters_the_kinds_it_lists() -> None:
    decoder = BeaconDecoder(AllowList.from_lists(ibeacon_uuids=[str(OURS)]))
    assert decoder.decode({}, {EDDYSTONE_UUID: eddystone_uid(OTHER_NAMESPACE, INSTANCE, -18)})
    assert decoder.decode({0x0118: encode.altbeacon(ALT_ID1, 1, 2, -60)}, {})
    assert decoder.decode({}, {EDDYSTONE_UUID: encode.eddystone_eid(bytes(8), -20)})
    assert decoder.decode({}, {LINE_UUID: encode.line(b"\x01" * 5, None, b"\x00")})


def test_allow_list_is_normalised() -> None:
    allow = AllowList.from_lists(
        ibeacon_uuids=[
            "F7826DA64FA24E988024BC5B71E0893E",
            " e2c56db5-dffb-48d2-b060-d0f5a71096e0 ",
        ],
        eddystone_namespaces=["EDD1EBEAC04E5DEFA017"],
        line_hwids=["9AC86AAE44"],
    )
    assert allow.ibeacon_uuids == {str(OURS), str(THEIRS)}
    assert allow.eddystone_namespaces == {"edd1ebeac04e5defa017"}
    assert allow.line_hwids == {"9ac86aae44"}
    assert AllowList(frozenset(["F7826DA6-4FA2-4E98-8024-BC5B71E0893E"])).ibeacon_uuids == {
        str(OURS)
    }


@pytest.mark.parametrize(
    ("kwargs", "list_name"),
    [
        ({"ibeacon_uuids": ["not-a-uuid"]}, "ibeacon_uuids"),
        ({"ibeacon_uuids": ["f7826da6-4fa2-4e98-8024-bc5b71e0893"]}, "ibeacon_uuids"),
        ({"ibeacon_uuids": ["f7826da64-fa2-4e98-8024-bc5b71e0893e"]}, "ibeacon_uuids"),
        ({"ibeacon_uuids": [LINE_IBEACON_UUID]}, "ibeacon_uuids"),
        ({"ibeacon_uuids": "f7826da6-4fa2-4e98-8024-bc5b71e0893e"}, "ibeacon_uuids"),
        ({"eddystone_namespaces": ["edd1ebeac04e5defa0"]}, "eddystone_namespaces"),
        ({"eddystone_namespaces": ["zzd1ebeac04e5defa017"]}, "eddystone_namespaces"),
        ({"eddystone_namespaces": [12345]}, "eddystone_namespaces"),
        ({"line_hwids": ["9ac86aae4"]}, "line_hwids"),
        ({"line_hwids": ["0x9ac86aae"]}, "line_hwids"),
    ],
)
def test_invalid_allow_entries_raise_a_plain_value_error(
    kwargs: dict[str, object], list_name: str
) -> None:
    with pytest.raises(ValueError, match=list_name) as info:
        AllowList.from_lists(**kwargs)  # type: ignore[arg-type]
    assert isinstance(info.value, InvalidAllowEntry)
    assert info.value.list_name == list_name
    assert "expected" in str(info.value)


# -- decoder mechanics ----------------------------------------------------------------


def test_a_tiny_cache_still_decodes_everything() -> None:
    decoder = BeaconDecoder(cache_size=2)
    for minor in range(50):
        beacon = decoder.decode({APPLE: ibeacon(OURS, 7, minor, -59)}, {})
        assert beacon is not None
        assert beacon.identity == f"ibeacon:{OURS}:7:{minor}"
    assert decoder.counters["ibeacon"] == 50


def test_repeated_payload_is_served_from_the_cache() -> None:
    decoder = BeaconDecoder()
    first = decoder.decode({APPLE: ibeacon(OURS, 1, 2, -59)}, {})
    again = decoder.decode({APPLE: ibeacon(OURS, 1, 2, -59)}, {})
    assert first is not None
    assert again is first


def test_cache_size_must_be_positive() -> None:
    with pytest.raises(ValueError, match="cache_size"):
        BeaconDecoder(cache_size=0)


# -- round trips through the encoders ------------------------------------------------

tx_bytes = st.integers(-128, 127)


@settings(max_examples=examples(200), deadline=None)
@given(u=st.uuids(), major=st.integers(0, 0xFFFF), minor=st.integers(0, 0xFFFF), tx=tx_bytes)
def test_ibeacon_encoder_round_trip(u: uuid.UUID, major: int, minor: int, tx: int) -> None:
    payload = encode.ibeacon(u, major, minor, tx)
    assert payload == ibeacon(u, major, minor, tx)
    beacon = BeaconDecoder().decode({APPLE: payload}, {})
    if str(u) == LINE_IBEACON_UUID:
        assert beacon is None
    else:
        assert beacon == Beacon(f"ibeacon:{u}:{major}:{minor}", "ibeacon", tx)


@settings(max_examples=examples(200), deadline=None)
@given(
    namespace=st.binary(min_size=10, max_size=10),
    instance=st.binary(min_size=6, max_size=6),
    tx0=tx_bytes,
    rfu=st.booleans(),
)
def test_eddystone_uid_encoder_round_trip(
    namespace: bytes, instance: bytes, tx0: int, rfu: bool
) -> None:
    frame = encode.eddystone_uid(namespace, instance, tx0, rfu=rfu)
    assert frame == eddystone_uid(namespace, instance, tx0, rfu=rfu)
    beacon = BeaconDecoder().decode({}, {EDDYSTONE_UUID: frame})
    assert beacon == Beacon(
        f"eddystone-uid:{namespace.hex()}:{instance.hex()}", "eddystone-uid", tx0 - 41
    )


@settings(max_examples=examples(200), deadline=None)
@given(eid=st.binary(min_size=8, max_size=8), tx0=tx_bytes)
def test_eddystone_eid_round_trip(eid: bytes, tx0: int) -> None:
    beacon = BeaconDecoder().decode({}, {EDDYSTONE_UUID: encode.eddystone_eid(eid, tx0)})
    assert beacon == Beacon(f"eddystone-eid:{eid.hex()}", "eddystone-eid", tx0 - 41)


url_pieces = st.one_of(
    st.sampled_from([".com/", ".org", ".info/", ".gov", ".net/", ".biz"]),
    st.characters(min_codepoint=0x21, max_codepoint=0x7E),
)


@settings(max_examples=examples(300), deadline=None)
@given(
    scheme=st.sampled_from(["http://www.", "https://www.", "http://", "https://"]),
    pieces=st.lists(url_pieces, max_size=17),
    tx0=tx_bytes,
)
def test_eddystone_url_round_trip(scheme: str, pieces: list[str], tx0: int) -> None:
    url = scheme + "".join(pieces)
    frame = encode.eddystone_url(url, tx0)  # each piece takes at most one byte: it fits
    decoder = BeaconDecoder()
    assert decoder.decode({}, {EDDYSTONE_UUID: frame}) is None
    assert decoder.decode_frame({}, {EDDYSTONE_UUID: frame}) == EddystoneUrl(url, tx0 - 41)


@settings(max_examples=examples(200), deadline=None)
@given(
    battery=st.one_of(st.none(), st.integers(1, 0xFFFF)),
    temp_256=st.one_of(st.none(), st.integers(-0x7FFF, 0x7FFF)),
    adv_count=st.integers(0, 0xFFFFFFFF),
    ticks=st.integers(0, 0xFFFFFFFF),
)
def test_eddystone_tlm_round_trip(
    battery: int | None, temp_256: int | None, adv_count: int, ticks: int
) -> None:
    temperature = None if temp_256 is None else temp_256 / 256
    frame = encode.eddystone_tlm(battery, temperature, adv_count, ticks / 10)
    decoder = BeaconDecoder()
    assert decoder.decode({}, {EDDYSTONE_UUID: frame}) is None
    assert decoder.decode_frame({}, {EDDYSTONE_UUID: frame}) == Telemetry(
        battery, temperature, adv_count, ticks / 10
    )


@settings(max_examples=examples(200), deadline=None)
@given(
    company=st.integers(0, 0xFFFF),
    id1=st.binary(min_size=16, max_size=16),
    id2=st.integers(0, 0xFFFF),
    id3=st.integers(0, 0xFFFF),
    rssi=tx_bytes,
    reserved=st.integers(0, 255),
)
def test_altbeacon_round_trip(
    *, company: int, id1: bytes, id2: int, id3: int, rssi: int, reserved: int
) -> None:
    payload = encode.altbeacon(id1, id2, id3, rssi, reserved)
    beacon = BeaconDecoder().decode({company: payload}, {})
    assert beacon == Beacon(f"altbeacon:{id1.hex()}:{id2}:{id3}", "altbeacon", rssi)


@settings(max_examples=examples(200), deadline=None)
@given(
    hwid=st.binary(min_size=5, max_size=5),
    tx=st.one_of(st.none(), st.integers(-128, 126)),
    message=st.binary(min_size=1, max_size=13),
)
def test_line_round_trip(hwid: bytes, tx: int | None, message: bytes) -> None:
    frame = encode.line(hwid, tx, message)
    beacon = BeaconDecoder().decode({}, {LINE_UUID: frame})
    assert beacon == Beacon(f"line:{hwid.hex()}", "line", tx)


@pytest.mark.parametrize(
    "build",
    [
        lambda: encode.eddystone_url("ftp://example.com", 0),
        lambda: encode.eddystone_url("https://" + "a" * 18, 0),
        lambda: encode.eddystone_url("https://exa mple.com", 0),
        lambda: encode.line(bytes(5), 127, b"\x00"),
        lambda: encode.line(bytes(5), None, b""),
        lambda: encode.line(bytes(4), None, b"\x00"),
        lambda: encode.ibeacon(OURS, 65536, 0, 0),
        lambda: encode.altbeacon(bytes(15), 0, 0, 0),
        lambda: encode.eddystone_tlm(3000, 200.0, 0, 0),
    ],
)
def test_encoders_refuse_what_the_format_cannot_carry(build: object) -> None:
    with pytest.raises(ValueError):
        build()  # type: ignore[operator]
