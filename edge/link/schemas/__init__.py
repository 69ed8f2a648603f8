"""The MQTT contract as types: every payload in either direction is a msgspec struct.

The device decodes what central sends with these structs and encodes what it
sends through them; docs/schemas/ is generated from the same structs
(`python -m edge.link.schemas.generate`), so the published JSON Schemas cannot
drift from what the device does. docs/protocol.md explains them.
"""

from __future__ import annotations

from typing import Any, TypeVar

import msgspec

from edge.errors import PayloadRejected, plain
from edge.link.schemas.central import (
    COMMAND_NAMES,
    AssetMissing,
    Checkin,
    Command,
    Decision,
    EventsAck,
)
from edge.link.schemas.device import AssetGet, CmdResult, Decide, State
from edge.link.schemas.events import EVENT_TYPES, Event, EventBatch

MAX_PAYLOAD = 256 * 1024
"""The largest JSON payload the device reads (assets are raw bytes, not JSON)."""

T = TypeVar("T")
_ENCODER = msgspec.json.Encoder()


def parse(topic: str, payload: bytes | memoryview, kind: type[T]) -> T:
    """Decode and validate `payload` as `kind`, or PayloadRejected with a plain reason."""
    return _decode(topic, payload, kind)  # type: ignore[no-any-return]


def parse_command(topic: str, payload: bytes | memoryview) -> Command:
    """`P/cmd`: one of the commands (a tagged union on `cmd`), or PayloadRejected.

    Without `args`, a command is read as if `args` were `{}`: a command that needs
    arguments is then refused naming the first one missing (`args.visitor`).
    """
    doc = _decode(topic, payload, Any)
    if isinstance(doc, dict):
        doc.setdefault("args", {})
    try:
        return msgspec.convert(doc, Command)  # type: ignore[no-any-return]
    except (msgspec.ValidationError, ValueError) as exc:
        raise PayloadRejected(topic, plain(exc)) from exc


def _decode(topic: str, payload: bytes | memoryview, kind: Any) -> Any:
    if len(payload) > MAX_PAYLOAD:
        raise PayloadRejected(topic, f"{len(payload)} bytes is over the {MAX_PAYLOAD} byte limit")
    try:
        # Checked whole first: msgspec skips unknown fields without looking at their bytes.
        text = bytes(payload).decode("utf-8")
        return msgspec.json.decode(text, type=kind)
    except UnicodeDecodeError as exc:
        raise PayloadRejected(topic, f"not UTF-8 text: {exc.reason}") from exc
    except (msgspec.DecodeError, msgspec.ValidationError, ValueError) as exc:
        raise PayloadRejected(topic, plain(exc)) from exc
    except RecursionError as exc:  # JSON nested thousands deep, well under MAX_PAYLOAD
        raise PayloadRejected(topic, "JSON nested too deeply") from exc


def encode(payload: msgspec.Struct) -> bytes:
    """A payload's JSON, exactly as its struct (and so its schema) says."""
    return _ENCODER.encode(payload)


def tag(struct: msgspec.Struct) -> str:
    """The tag of a tagged-union member (a command's `cmd`, an event's `type`)."""
    return str(type(struct).__struct_config__.tag)


__all__ = [
    "COMMAND_NAMES",
    "EVENT_TYPES",
    "MAX_PAYLOAD",
    "AssetGet",
    "AssetMissing",
    "Checkin",
    "CmdResult",
    "Command",
    "Decide",
    "Decision",
    "Event",
    "EventBatch",
    "EventsAck",
    "State",
    "encode",
    "parse",
    "parse_command",
    "plain",
    "tag",
]
