"""How events are packed into the outbox's rows: one row per batch, its events compressed.

Pure functions, no SQLite. Events are grouped into batches of at most
`max_events` and `max_bytes` (of JSON) when they are committed, so a batch is
one row and making it costs nothing: the row is what goes out on `P/events`.
Its body is the events' JSON, one per line, compressed with zlib: a busy
store's events repeat their keys and types, and the SD card sees about a third
of the bytes (benchmarks/wear.py). Beside the body, a row keeps the few
figures the outbox's queries need without opening it (counts, bytes, times).
"""

from __future__ import annotations

import json
import zlib
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

LOW_VALUE = ("visit.dwell", "device.health")
"""Kinds the budgets drop first (docs/outbox.md "Bounds")."""
LEVEL = 6  # zlib's default: 9 saved under 2 % more on a busy store's day


def text(event: Mapping[str, Any]) -> str:
    """An event as the outbox stores it and `P/events` carries it: compact JSON, one line
    (JSON escapes every control character, so a newline never occurs inside one)."""
    return json.dumps(event, separators=(",", ":"), ensure_ascii=False)


@dataclass(frozen=True, slots=True)
class Packed:
    """One row's body and the figures kept beside it."""

    body: bytes
    events: int
    size: int  # bytes of the events' JSON (what budgets and batch limits count)
    low_value: int  # events of a LOW_VALUE kind
    first_ts: int
    last_ts: int
    unsynced: int  # events stamped before the clock was synchronised


def pack(texts: Sequence[str]) -> Packed:
    """`texts` (non-empty, from `text`) as one row."""
    events = [json.loads(t) for t in texts]
    stamps = [int(e["ts"]) for e in events]
    return Packed(
        body=zlib.compress("\n".join(texts).encode(), LEVEL),
        events=len(texts),
        size=sum(len(t.encode()) for t in texts),
        low_value=sum(e["type"] in LOW_VALUE for e in events),
        first_ts=min(stamps),
        last_ts=max(stamps),
        unsynced=sum(e.get("clock_synced") is not True for e in events),
    )


class Unreadable(ValueError):
    """A row's body is not what `pack` made (the file was damaged where SQLite's own checks
    do not look)."""


def unpack(body: bytes) -> list[str]:
    """A row's events' JSON, in order; Unreadable if the body is damaged."""
    try:
        return zlib.decompress(body).decode().split("\n")
    except (zlib.error, UnicodeDecodeError, TypeError) as exc:
        raise Unreadable(f"a stored batch cannot be read ({exc})") from exc


def event_id(text: str) -> str:
    """The id of an event stored as `text`."""
    return str(json.loads(text)["id"])


def batches(texts: Iterable[str], max_events: int, max_bytes: int) -> Iterator[list[str]]:
    """`texts` in order, cut into batches of at most `max_events` and `max_bytes` (an event
    over `max_bytes` on its own still makes a batch of one)."""
    batch: list[str] = []
    size = 0
    for item in texts:
        length = len(item.encode())
        if batch and (len(batch) >= max_events or size + length > max_bytes):
            yield batch
            batch, size = [], 0
        batch.append(item)
        size += length
    if batch:
        yield batch


def payload(batch_id: str, device_id: str, texts: Iterable[str]) -> bytes:
    """The exact `P/events` body of a batch (docs/protocol.md)."""
    return (
        '{"batch_id":'
        + json.dumps(batch_id)
        + ',"device_id":'
        + json.dumps(device_id)
        + ',"events":['
        + ",".join(texts)
        + "]}"
    ).encode()
