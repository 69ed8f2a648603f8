"""An incoming `P/events` message read into database rows: the functional core of the ingest.

The store and device come from the topic, not the body: the broker's ACL lets a
device publish only under its own `P/`, so the topic is authenticated and the body
is not. Each event keeps its whole JSON (`body`) beside the columns it is queried by,
so a field added to the protocol later is stored without a migration.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from typing import Any

import msgspec

MAX_ID_CHARS = 128


class BatchRejected(ValueError):
    """A payload that is not a batch of events of the contract (logged, counted, not acked)."""


@dataclass(frozen=True, slots=True)
class EventRow:
    id: str
    store_id: str
    device_id: str
    type: str
    ts: int
    clock_synced: bool
    visitor: str | None
    visit_id: str | None
    dwell_ms: int | None
    batch_id: str
    body: str


@dataclass(frozen=True, slots=True)
class Batch:
    store_id: str
    device_id: str
    batch_id: str
    rows: tuple[EventRow, ...]

    @property
    def ack_topic_suffix(self) -> str:
        return f"{self.store_id}/{self.device_id}/events/ack"


def events_topic(prefix: str) -> str:
    """Every device's `P/events` under `prefix`."""
    return f"{prefix}/+/+/events"


def shared(group: str, topic: str) -> str:
    """An MQTT 5 shared subscription: the broker gives each message to one member of `group`."""
    return f"$share/{group}/{topic}"


def visitor_digest(visitor: str) -> str:
    """What the database keeps of an erased visitor: a SHA-256, never the id itself."""
    return hashlib.sha256(visitor.encode()).hexdigest()


def _text(value: Any, what: str, optional: bool = False) -> str | None:
    if value is None and optional:
        return None
    if not isinstance(value, str) or not value or len(value) > 4096:
        raise BatchRejected(f"{what} is not a non-empty string")
    return value


def read_batch(prefix: str, topic: str, payload: bytes) -> Batch:
    """The batch in a `P/events` message; BatchRejected says what is wrong with it."""
    parts = topic.removeprefix(prefix + "/").split("/")
    if not topic.startswith(prefix + "/") or len(parts) != 3 or parts[2] != "events":
        raise BatchRejected(f"topic {topic!r} is not {prefix}/STORE/DEVICE/events")
    store_id, device_id = parts[0], parts[1]
    try:
        doc = msgspec.json.decode(payload)
    except msgspec.DecodeError as exc:
        raise BatchRejected(f"not JSON: {exc}") from exc
    if not isinstance(doc, dict):
        raise BatchRejected("not a JSON object")
    batch_id = _text(doc.get("batch_id"), "batch_id")
    events = doc.get("events")
    if not isinstance(events, list) or not events:
        raise BatchRejected("events is not a non-empty list")
    rows = []
    for n, event in enumerate(events):
        rows.append(_row(event, f"events[{n}]", store_id, device_id, str(batch_id)))
    return Batch(store_id, device_id, str(batch_id), tuple(rows))


def _row(event: Any, where: str, store_id: str, device_id: str, batch_id: str) -> EventRow:
    if not isinstance(event, dict):
        raise BatchRejected(f"{where} is not an object")
    event_id = _text(event.get("id"), f"{where}.id")
    if len(str(event_id)) > MAX_ID_CHARS:
        raise BatchRejected(f"{where}.id is longer than {MAX_ID_CHARS} characters")
    ts, dwell = event.get("ts"), event.get("dwell_ms")
    if not isinstance(ts, int) or isinstance(ts, bool) or not 0 <= ts < 2**63:
        raise BatchRejected(f"{where}.ts is not an integer of milliseconds")
    if not isinstance(dwell, int) or isinstance(dwell, bool):
        dwell = None
    return EventRow(
        id=str(event_id),
        store_id=store_id,
        device_id=device_id,
        type=str(_text(event.get("type"), f"{where}.type")),
        ts=ts,
        clock_synced=event.get("clock_synced") is True,
        visitor=_text(event.get("visitor"), f"{where}.visitor", optional=True),
        visit_id=_text(event.get("visit_id"), f"{where}.visit_id", optional=True),
        dwell_ms=dwell,
        batch_id=batch_id,
        body=msgspec.json.encode(event).decode(),
    )
