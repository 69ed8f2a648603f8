"""Beacon payload builders, the inverse of `edge.presence.formats`: for tests,
benchmarks and the simulator.

Payloads come out as bleak reports them (manufacturer data without the company
id, service data without the UUID). `advertising_data` assembles the raw AD
structures a radio would send, for tools that parse whole adverts. Builders
raise ValueError for values the format cannot carry.
"""

from __future__ import annotations

import uuid as uuid_mod
from collections.abc import Mapping

from edge.presence.formats import (
    ALTBEACON_CODE,
    EDDYSTONE_EID_FRAME,
    EDDYSTONE_TLM_FRAME,
    EDDYSTONE_UID_FRAME,
    EDDYSTONE_URL_EXPANSIONS,
    EDDYSTONE_URL_FRAME,
    EDDYSTONE_URL_MAX,
    EDDYSTONE_URL_SCHEMES,
    IBEACON_PREFIX,
    LINE_FRAME,
    LINE_IBEACON_MAJOR,
    LINE_IBEACON_MINOR,
    LINE_IBEACON_UUID,
    LINE_MAX_LEN,
    LINE_TX_NOT_GIVEN,
    TLM_NO_TEMPERATURE,
)

BLUETOOTH_BASE_SUFFIX = "-0000-1000-8000-00805f9b34fb"
AD_FLAGS = 0x01
AD_UUID16_COMPLETE = 0x03
AD_SERVICE_DATA_16 = 0x16
AD_SERVICE_DATA_128 = 0x21
AD_MANUFACTURER = 0xFF
FLAGS_LE_ONLY_GENERAL = 0x06
_EXPANSIONS_LONGEST_FIRST = sorted(enumerate(EDDYSTONE_URL_EXPANSIONS), key=lambda e: -len(e[1]))


def _u8s(value: int, name: str) -> bytes:
    if not -128 <= value <= 127:
        raise ValueError(f"{name} must fit a signed byte, got {value}")
    return value.to_bytes(1, "big", signed=True)


def _u16(value: int, name: str) -> bytes:
    if not 0 <= value <= 0xFFFF:
        raise ValueError(f"{name} must be 0-65535, got {value}")
    return value.to_bytes(2, "big")


def _exact(data: bytes, size: int, name: str) -> bytes:
    if len(data) != size:
        raise ValueError(f"{name} must be {size} bytes, got {len(data)}")
    return bytes(data)


def ibeacon(uuid: uuid_mod.UUID | str, major: int, minor: int, tx_1m: int) -> bytes:
    """An iBeacon payload for Apple's company id 0x004C."""
    u = uuid if isinstance(uuid, uuid_mod.UUID) else uuid_mod.UUID(uuid)
    return (
        IBEACON_PREFIX
        + u.bytes
        + _u16(major, "major")
        + _u16(minor, "minor")
        + _u8s(tx_1m, "tx power")
    )


def line_ibeacon(tx_1m: int = -59) -> bytes:
    """The fixed iBeacon every LINE Beacon sends beside its LINE frame."""
    return ibeacon(LINE_IBEACON_UUID, LINE_IBEACON_MAJOR, LINE_IBEACON_MINOR, tx_1m)


def altbeacon(id1: bytes, id2: int, id3: int, ref_rssi: int, reserved: int = 0) -> bytes:
    """An AltBeacon payload (any company id)."""
    if not 0 <= reserved <= 0xFF:
        raise ValueError(f"reserved must be a byte, got {reserved}")
    return (
        ALTBEACON_CODE
        + _exact(id1, 16, "id1")
        + _u16(id2, "id2")
        + _u16(id3, "id3")
        + _u8s(ref_rssi, "reference RSSI")
        + bytes([reserved])
    )


def eddystone_uid(namespace: bytes, instance: bytes, tx_0m: int, rfu: bool = True) -> bytes:
    """An Eddystone-UID frame; `rfu=False` leaves out the 2 reserved bytes, as some beacons do."""
    frame = (
        bytes([EDDYSTONE_UID_FRAME])
        + _u8s(tx_0m, "tx power")
        + _exact(namespace, 10, "namespace")
        + _exact(instance, 6, "instance")
    )
    return frame + (b"\x00\x00" if rfu else b"")


def eddystone_eid(eid: bytes, tx_0m: int) -> bytes:
    """An Eddystone-EID frame."""
    return bytes([EDDYSTONE_EID_FRAME]) + _u8s(tx_0m, "tx power") + _exact(eid, 8, "eid")


def encode_url(url: str) -> bytes:
    """The scheme byte and compressed URL of an Eddystone-URL frame."""
    for code in (1, 0, 3, 2):  # longest scheme first: "https://www." before "https://"
        scheme = EDDYSTONE_URL_SCHEMES[code]
        if url.startswith(scheme):
            break
    else:
        raise ValueError(f"URL must start with http:// or https://, got {url!r}")
    out = bytearray([code])
    rest = url[len(scheme) :]
    i = 0
    while i < len(rest):
        for exp_code, text in _EXPANSIONS_LONGEST_FIRST:
            if rest.startswith(text, i):
                out.append(exp_code)
                i += len(text)
                break
        else:
            ch = ord(rest[i])
            if not 0x20 < ch < 0x7F:
                raise ValueError(f"URL character {rest[i]!r} cannot be sent in Eddystone-URL")
            out.append(ch)
            i += 1
    if len(out) > EDDYSTONE_URL_MAX - 2:
        raise ValueError(f"URL {url!r} is too long for Eddystone-URL ({len(out) - 1} > 17 bytes)")
    return bytes(out)


def eddystone_url(url: str, tx_0m: int) -> bytes:
    """An Eddystone-URL frame."""
    return bytes([EDDYSTONE_URL_FRAME]) + _u8s(tx_0m, "tx power") + encode_url(url)


def eddystone_tlm(
    battery_mv: int | None, temperature_c: float | None, adv_count: int, uptime_s: float
) -> bytes:
    """An unencrypted Eddystone-TLM frame (None: not measured)."""
    temp = TLM_NO_TEMPERATURE if temperature_c is None else round(temperature_c * 256)
    if temperature_c is not None and not -0x8000 < temp <= 0x7FFF:
        raise ValueError(f"temperature {temperature_c} does not fit 8.8 fixed point")
    ticks = round(uptime_s * 10)
    if not 0 <= adv_count <= 0xFFFFFFFF or not 0 <= ticks <= 0xFFFFFFFF:
        raise ValueError("adv_count and uptime must fit 32 bits")
    return (
        bytes([EDDYSTONE_TLM_FRAME, 0x00])
        + _u16(battery_mv or 0, "battery mV")
        + (temp & 0xFFFF).to_bytes(2, "big")
        + adv_count.to_bytes(4, "big")
        + ticks.to_bytes(4, "big")
    )


def eddystone_etlm(encrypted: bytes, salt: int, mic: int) -> bytes:
    """An encrypted Eddystone-TLM frame (12 bytes of ciphertext, salt, integrity check)."""
    return (
        bytes([EDDYSTONE_TLM_FRAME, 0x01])
        + _exact(encrypted, 12, "encrypted TLM")
        + _u16(salt, "salt")
        + _u16(mic, "mic")
    )


def line(hwid: bytes, tx_1m: int | None, message: bytes) -> bytes:
    """A LINE Beacon frame: 7-byte secure message (LINE Beacon) or 1-13 bytes (Simple Beacon).

    `tx_1m=None` sends 0x7F, "not given", as LINE Simple Beacon requires.
    """
    if tx_1m == LINE_TX_NOT_GIVEN:
        raise ValueError("tx power 127 means 'not given' in a LINE frame; pass None")
    tx = bytes([LINE_TX_NOT_GIVEN]) if tx_1m is None else _u8s(tx_1m, "tx power")
    if not 1 <= len(message) <= LINE_MAX_LEN - 7:
        raise ValueError(f"LINE message must be 1-13 bytes, got {len(message)}")
    return bytes([LINE_FRAME]) + _exact(hwid, 5, "hwid") + tx + bytes(message)


def _ad(ad_type: int, data: bytes) -> bytes:
    if len(data) > 254:
        raise ValueError("AD structure too long")
    return bytes([len(data) + 1, ad_type]) + data


def advertising_data(
    manufacturer_data: Mapping[int, bytes], service_data: Mapping[str, bytes]
) -> bytes:
    """The raw AD structures of an advert: flags, 16-bit service UUIDs, service and
    manufacturer data, in the order beacons send them. Not limited to 31 bytes."""
    out = bytearray(_ad(AD_FLAGS, bytes([FLAGS_LE_ONLY_GENERAL])))
    short: list[bytes] = []
    elements = bytearray()
    for service, payload in service_data.items():
        u = uuid_mod.UUID(service)
        text = str(u)
        if text.startswith("0000") and text.endswith(BLUETOOTH_BASE_SUFFIX):
            uuid16 = int(text[4:8], 16).to_bytes(2, "little")
            short.append(uuid16)
            elements += _ad(AD_SERVICE_DATA_16, uuid16 + payload)
        else:
            elements += _ad(AD_SERVICE_DATA_128, u.bytes[::-1] + payload)
    if short:
        out += _ad(AD_UUID16_COMPLETE, b"".join(short))
    out += elements
    for company, payload in manufacturer_data.items():
        out += _ad(AD_MANUFACTURER, company.to_bytes(2, "little") + payload)
    return bytes(out)
