"""Beacon wire formats: one pure parser per format, and the result types. No state.

Every function here takes the payload exactly as bleak reports it (manufacturer
data without the company id, service data without the UUID) and never raises
for any `bytes` input. Identity strings follow docs/traces.md.

Formats (all multi-byte integers big-endian):

- iBeacon, Apple (0x004C) manufacturer data, exactly 23 bytes:
  0x02 0x15, uuid (16), major (2), minor (2), measured power at 1 m (signed).
- AltBeacon, any company's manufacturer data, exactly 24 bytes:
  0xBE 0xAC, id1 (16), id2 (2), id3 (2), reference RSSI at 1 m (signed),
  manufacturer reserved (1).
- Eddystone, service data of 0xFEAA; the frame's ranging data is the power at
  0 m, so 41 dB is subtracted for 1 m:
  UID 0x00: tx, namespace (10), instance (6), then 2 reserved bytes that some
  beacons leave out (18 or 20 bytes);
  URL 0x10: tx, scheme (0-3), encoded URL (0-17 bytes);
  TLM 0x20: version 0x00 then battery mV (2), temperature (signed 8.8 fixed
  point, 0x8000 = not measured), advert count (4), uptime in 0.1 s (4), 14
  bytes; version 0x01 (encrypted) 18 bytes;
  EID 0x30: tx, ephemeral id (8), 10 bytes.
- LINE Beacon, service data of 0xFE6F: frame type 0x02, hardware id (5),
  measured power at 1 m (signed; 0x7F = not given), then a 1-13 byte message
  (7 bytes of secure message on a LINE Beacon, a free device message on a LINE
  Simple Beacon), 8-20 bytes in all. A LINE Beacon also advertises a fixed
  iBeacon (LINE_IBEACON_UUID, major 0x4C49, minor 0x4E45) for iOS; that one is
  not a second visitor.

The `classify_*` functions return an `Outcome`: the counter name, the frame
(or None) and a rank that says how much the advert told us (see RANK_*). The
decoder keeps, per advert, the highest-ranked outcome of its data elements.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar, Final

APPLE: Final = 0x004C
EDDYSTONE_UUID: Final = "0000feaa-0000-1000-8000-00805f9b34fb"
LINE_UUID: Final = "0000fe6f-0000-1000-8000-00805f9b34fb"

IBEACON_PREFIX: Final = b"\x02\x15"
IBEACON_LEN: Final = 23  # 0x02 0x15 + 16 uuid + 2 major + 2 minor + 1 tx power
APPLE_IBEACON_TYPE: Final = 0x02
ALTBEACON_CODE: Final = b"\xbe\xac"
ALTBEACON_LEN: Final = 24  # 0xBE 0xAC + 20 id + 1 ref rssi + 1 mfg reserved

EDDYSTONE_UID_FRAME: Final = 0x00
EDDYSTONE_URL_FRAME: Final = 0x10
EDDYSTONE_TLM_FRAME: Final = 0x20
EDDYSTONE_EID_FRAME: Final = 0x30
EDDYSTONE_UID_LENGTHS: Final = (18, 20)  # frame, tx, 10 namespace, 6 instance, (2 reserved)
EDDYSTONE_URL_MIN: Final = 3  # frame, tx, scheme
EDDYSTONE_URL_MAX: Final = 20  # + up to 17 encoded URL bytes
EDDYSTONE_TLM_LEN: Final = 14
EDDYSTONE_ETLM_LEN: Final = 18
EDDYSTONE_EID_LEN: Final = 10
EDDYSTONE_0M_TO_1M: Final = 41  # dB lost between 0 m and 1 m, per the Eddystone spec
TLM_NO_TEMPERATURE: Final = 0x8000

EDDYSTONE_URL_SCHEMES: Final = ("http://www.", "https://www.", "http://", "https://")
EDDYSTONE_URL_EXPANSIONS: Final = (
    ".com/", ".org/", ".edu/", ".net/", ".info/", ".biz/", ".gov/",
    ".com", ".org", ".edu", ".net", ".info", ".biz", ".gov",
)  # fmt: skip

LINE_FRAME: Final = 0x02
LINE_MIN_LEN: Final = 8  # frame, 5 hwid, tx, >= 1 message byte
LINE_MAX_LEN: Final = 20  # ... up to 13 message bytes
LINE_SECURE_MESSAGE_LEN: Final = 7
LINE_TX_NOT_GIVEN: Final = 0x7F
# LINE Beacon device specification, "iBeacon packets":
# https://developers.line.biz/en/docs/messaging-api/beacon-device-spec/
LINE_IBEACON_UUID: Final = "d0d2ce24-9efc-11e5-82c4-1c6a7a17ef38"
LINE_IBEACON_UUID_BYTES: Final = bytes.fromhex(LINE_IBEACON_UUID.replace("-", ""))
LINE_IBEACON_MAJOR: Final = 0x4C49  # "LI"
LINE_IBEACON_MINOR: Final = 0x4E45  # "NE"

# Kinds of visitor beacon (Beacon.kind), which are also counter names.
IBEACON: Final = "ibeacon"
EDDYSTONE_UID: Final = "eddystone-uid"
EDDYSTONE_EID: Final = "eddystone-eid"
ALTBEACON: Final = "altbeacon"
LINE: Final = "line"
VISITOR_KINDS: Final = (IBEACON, EDDYSTONE_UID, EDDYSTONE_EID, ALTBEACON, LINE)
# Counter names of adverts that are recognised but name no visitor.
EDDYSTONE_URL: Final = "eddystone-url"
TELEMETRY: Final = "telemetry"
LINE_IBEACON: Final = "line_ibeacon"
NOT_ALLOWED: Final = "not_allowed"
# ... and of adverts that are not beacons at all, or broken ones.
MALFORMED: Final = "malformed"
NOT_A_BEACON: Final = "not_a_beacon"
OUTCOMES: Final = (
    *VISITOR_KINDS,
    EDDYSTONE_URL,
    TELEMETRY,
    LINE_IBEACON,
    NOT_ALLOWED,
    MALFORMED,
    NOT_A_BEACON,
)

# Identity prefixes, and where the allow-listed part sits in an identity string.
IBEACON_UUID_SLICE: Final = slice(len("ibeacon:"), len("ibeacon:") + 36)
EDDYSTONE_NAMESPACE_SLICE: Final = slice(len("eddystone-uid:"), len("eddystone-uid:") + 20)
LINE_HWID_SLICE: Final = slice(len("line:"), len("line:") + 10)

# Outcome ranks: a visitor beats anything; a recognised non-visitor beats a
# malformed frame, which beats plain noise.
RANK_NOTHING: Final = 0
RANK_MALFORMED: Final = 1
RANK_RECOGNISED: Final = 2
RANK_VISITOR: Final = 3


@dataclass(frozen=True, slots=True)
class Beacon:
    """A decoded beacon: who (`identity`) and its calibrated power at 1 m, if known."""

    identity: str
    kind: str
    tx_power_1m: int | None


@dataclass(frozen=True, slots=True)
class EddystoneUrl:
    """An Eddystone-URL frame: a URL, no identity (many beacons may send the same)."""

    kind: ClassVar[str] = EDDYSTONE_URL
    url: str
    tx_power_1m: int


@dataclass(frozen=True, slots=True)
class Telemetry:
    """An Eddystone-TLM frame. None where the beacon does not measure a figure.

    An encrypted frame (`encrypted`, version 0x01) carries none of the figures.
    """

    kind: ClassVar[str] = TELEMETRY
    battery_mv: int | None
    temperature_c: float | None
    adv_count: int | None
    uptime_s: float | None
    encrypted: bool = False


Frame = Beacon | EddystoneUrl | Telemetry
Outcome = tuple[str, Frame | None, int]

OUT_NOT_A_BEACON: Final[Outcome] = (NOT_A_BEACON, None, RANK_NOTHING)
OUT_MALFORMED: Final[Outcome] = (MALFORMED, None, RANK_MALFORMED)
OUT_LINE_IBEACON: Final[Outcome] = (LINE_IBEACON, None, RANK_RECOGNISED)
OUT_NOT_ALLOWED: Final[Outcome] = (NOT_ALLOWED, None, RANK_RECOGNISED)


def _signed(byte: int) -> int:
    return byte - 256 if byte > 127 else byte


# -- manufacturer data ----------------------------------------------------------------


def decode_ibeacon(payload: bytes) -> Beacon | None:
    """Any well-formed iBeacon (LINE's fixed one too) from Apple manufacturer data."""
    if len(payload) != IBEACON_LEN or payload[:2] != IBEACON_PREFIX:
        return None
    h = payload.hex()
    major = payload[18] << 8 | payload[19]
    minor = payload[20] << 8 | payload[21]
    return Beacon(
        f"ibeacon:{h[4:12]}-{h[12:16]}-{h[16:20]}-{h[20:24]}-{h[24:36]}:{major}:{minor}",
        IBEACON,
        _signed(payload[22]),
    )


def decode_altbeacon(payload: bytes) -> Beacon | None:
    """AltBeacon from any company's manufacturer data (company id already stripped)."""
    if len(payload) != ALTBEACON_LEN or payload[:2] != ALTBEACON_CODE:
        return None
    id2 = payload[18] << 8 | payload[19]
    id3 = payload[20] << 8 | payload[21]
    return Beacon(f"altbeacon:{payload[2:18].hex()}:{id2}:{id3}", ALTBEACON, _signed(payload[22]))


def classify_apple(payload: bytes) -> Outcome:
    """Apple (0x004C) manufacturer data: an iBeacon, LINE's iBeacon, or continuity noise.

    Apple continuity messages (AirDrop 0x05, AirPods 0x07, AirPlay 0x09, Handoff
    0x0C, Nearby 0x10, Find My 0x12, ...) are not beacons; only type 0x02 is.
    """
    if payload[:2] == ALTBEACON_CODE:
        return classify_manufacturer(payload)
    if payload[:1] != b"\x02":
        return OUT_NOT_A_BEACON
    beacon = decode_ibeacon(payload)
    if beacon is None:
        return OUT_MALFORMED
    if payload[2:18] == LINE_IBEACON_UUID_BYTES:
        return OUT_LINE_IBEACON
    return (IBEACON, beacon, RANK_VISITOR)


def classify_manufacturer(payload: bytes) -> Outcome:
    """Any other company's manufacturer data: an AltBeacon or nothing."""
    if payload[:2] != ALTBEACON_CODE:
        return OUT_NOT_A_BEACON
    beacon = decode_altbeacon(payload)
    return OUT_MALFORMED if beacon is None else (ALTBEACON, beacon, RANK_VISITOR)


# -- service data ---------------------------------------------------------------------


def _eddystone_url(payload: bytes) -> EddystoneUrl | None:
    if not EDDYSTONE_URL_MIN <= len(payload) <= EDDYSTONE_URL_MAX or payload[2] > 3:
        return None
    parts = [EDDYSTONE_URL_SCHEMES[payload[2]]]
    for byte in payload[3:]:
        if byte < len(EDDYSTONE_URL_EXPANSIONS):
            parts.append(EDDYSTONE_URL_EXPANSIONS[byte])
        elif 0x20 < byte < 0x7F:
            parts.append(chr(byte))
        else:
            return None  # reserved for future use: not a URL we can show
    return EddystoneUrl("".join(parts), _signed(payload[1]) - EDDYSTONE_0M_TO_1M)


def _eddystone_tlm(payload: bytes) -> Telemetry | None:
    if len(payload) == EDDYSTONE_ETLM_LEN and payload[1] == 0x01:
        return Telemetry(None, None, None, None, encrypted=True)
    if len(payload) != EDDYSTONE_TLM_LEN or payload[1] != 0x00:
        return None
    battery = payload[2] << 8 | payload[3]
    temp = payload[4] << 8 | payload[5]
    return Telemetry(
        battery_mv=battery or None,  # zero: not battery powered / not measured
        temperature_c=None if temp == TLM_NO_TEMPERATURE else _signed16(temp) / 256,
        adv_count=int.from_bytes(payload[6:10], "big"),
        uptime_s=int.from_bytes(payload[10:14], "big") / 10,
    )


def _signed16(value: int) -> int:
    return value - 0x10000 if value > 0x7FFF else value


def decode_eddystone(payload: bytes) -> Frame | None:
    """Any Eddystone frame from 0xFEAA service data: UID/EID → Beacon, URL, TLM; else None."""
    if not payload:
        return None
    frame = payload[0]
    if frame == EDDYSTONE_UID_FRAME:
        if len(payload) not in EDDYSTONE_UID_LENGTHS:
            return None
        return Beacon(
            f"eddystone-uid:{payload[2:12].hex()}:{payload[12:18].hex()}",
            EDDYSTONE_UID,
            _signed(payload[1]) - EDDYSTONE_0M_TO_1M,
        )
    if frame == EDDYSTONE_EID_FRAME:
        if len(payload) != EDDYSTONE_EID_LEN:
            return None
        return Beacon(
            f"eddystone-eid:{payload[2:10].hex()}",
            EDDYSTONE_EID,
            _signed(payload[1]) - EDDYSTONE_0M_TO_1M,
        )
    if frame == EDDYSTONE_URL_FRAME:
        return _eddystone_url(payload)
    if frame == EDDYSTONE_TLM_FRAME:
        return _eddystone_tlm(payload)
    return None


def classify_eddystone(payload: bytes) -> Outcome:
    """0xFEAA service data: a visitor (UID, EID), a URL, telemetry, or malformed."""
    frame = decode_eddystone(payload)
    if frame is None:
        return OUT_MALFORMED
    if type(frame) is Beacon:
        return (frame.kind, frame, RANK_VISITOR)
    return (frame.kind, frame, RANK_RECOGNISED)


def decode_line(payload: bytes) -> Beacon | None:
    """LINE Beacon or LINE Simple Beacon from 0xFE6F service data."""
    if not LINE_MIN_LEN <= len(payload) <= LINE_MAX_LEN or payload[0] != LINE_FRAME:
        return None
    tx = payload[6]
    return Beacon(
        f"line:{payload[1:6].hex()}", LINE, None if tx == LINE_TX_NOT_GIVEN else _signed(tx)
    )


def classify_line(payload: bytes) -> Outcome:
    """0xFE6F service data: a LINE visitor or malformed."""
    beacon = decode_line(payload)
    return OUT_MALFORMED if beacon is None else (LINE, beacon, RANK_VISITOR)
