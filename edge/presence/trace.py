"""The JSON Lines trace format of docs/traces.md: parse one line, format one advert."""

from __future__ import annotations

import json
import math
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from edge.errors import TraceLineError
from edge.presence.advert import Advert


def _hex_map(obj: Any, name: str, line_no: int, key_is_int: bool) -> dict[Any, bytes]:
    if obj is None:
        return {}
    if not isinstance(obj, dict):
        raise TraceLineError(line_no, f"{name} is not an object")
    out: dict[Any, bytes] = {}
    for key, value in obj.items():
        try:
            k: Any = int(key) if key_is_int else str(key).lower()
        except ValueError as exc:
            raise TraceLineError(line_no, f"{name} key {key!r} is not a company id") from exc
        if key_is_int and not 0 <= k <= 0xFFFF:
            raise TraceLineError(line_no, f"{name} key {key!r} is not a 16-bit company id")
        try:
            out[k] = bytes.fromhex(value)
        except (TypeError, ValueError) as exc:
            raise TraceLineError(line_no, f"{name}[{key!r}] is not hex") from exc
    return out


def parse_line(line: str, line_no: int) -> Advert | None:
    """An Advert from one trace line; None for a blank line; TraceLineError if malformed."""
    if not line.strip():
        return None
    try:
        obj = json.loads(line)
    except json.JSONDecodeError as exc:
        raise TraceLineError(line_no, f"not JSON ({exc.msg})") from exc
    except RecursionError as exc:
        raise TraceLineError(line_no, "not JSON (nested too deeply)") from exc
    if not isinstance(obj, dict):
        raise TraceLineError(line_no, "not a JSON object")
    t, rssi = obj.get("t"), obj.get("rssi")
    if not isinstance(t, int | float) or isinstance(t, bool) or not 0 <= t < math.inf:
        raise TraceLineError(line_no, f"t must be a non-negative number, got {t!r}")
    if not isinstance(rssi, int) or isinstance(rssi, bool) or not -127 <= rssi <= 20:
        raise TraceLineError(line_no, f"rssi must be an integer dBm, got {rssi!r}")
    tx_power = obj.get("tx_power")
    if tx_power is not None and (not isinstance(tx_power, int) or isinstance(tx_power, bool)):
        raise TraceLineError(line_no, f"tx_power must be an integer or null, got {tx_power!r}")
    uuids = obj.get("service_uuids")
    uuids = [] if uuids is None else uuids
    if not isinstance(uuids, list):
        raise TraceLineError(line_no, "service_uuids is not a list")
    name = obj.get("local_name")
    return Advert(
        t=float(t),
        address=str(obj.get("address", "")),
        rssi=rssi,
        tx_power=tx_power,
        local_name=name if isinstance(name, str) else None,
        service_uuids=tuple(str(u).lower() for u in uuids),
        manufacturer_data=_hex_map(
            obj.get("manufacturer_data"), "manufacturer_data", line_no, True
        ),
        service_data=_hex_map(obj.get("service_data"), "service_data", line_no, False),
    )


def format_advert(advert: Advert, address: str) -> str:
    """One trace line for `advert`, with `address` as given (a keyed hash when recording)."""
    return json.dumps(
        {
            "t": round(advert.t, 3),
            "address": address,
            "rssi": advert.rssi,
            "tx_power": advert.tx_power,
            "local_name": advert.local_name,
            "service_uuids": list(advert.service_uuids),
            "manufacturer_data": {str(k): v.hex() for k, v in advert.manufacturer_data.items()},
            "service_data": {k: v.hex() for k, v in advert.service_data.items()},
        },
        separators=(",", ":"),
    )


def read_trace(path: Path) -> Iterator[Advert | TraceLineError]:
    """Every advert of a trace file in order; a malformed line comes out as its error."""
    with path.open(encoding="utf-8", errors="replace") as fh:
        for line_no, line in enumerate(fh, 1):
            try:
                advert = parse_line(line, line_no)
            except TraceLineError as exc:
                yield exc
                continue
            if advert is not None:
                yield advert
