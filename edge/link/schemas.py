"""Payloads central sends us, validated where they enter (unknown fields ignored)."""

from __future__ import annotations

from typing import Annotated, Any, Literal, TypeVar

import msgspec

from edge.content.slides import Slide
from edge.errors import PayloadRejected

MAX_PAYLOAD = 256 * 1024


class EventsAck(msgspec.Struct, frozen=True):
    batch_id: str


class Decision(msgspec.Struct, frozen=True, kw_only=True):
    """A personalisation answer; `slide` None means nothing personal to show."""

    request_id: str
    visitor: str
    show_ms: int
    ttl_ms: int = 0
    slide: Slide | None = None
    content_id: str = ""
    campaign_id: str | None = None
    variant: str | None = None

    def __post_init__(self) -> None:
        if not 0 <= self.show_ms <= 3_600_000:
            raise ValueError(f"show_ms {self.show_ms} outside 0..3600000")
        if self.ttl_ms < 0:
            raise ValueError(f"ttl_ms {self.ttl_ms} is negative")


class Checkin(msgspec.Struct, frozen=True, kw_only=True):
    """A phone scanned this screen's QR code (delivered by central on `P/checkin`)."""

    visitor: str
    nonce: str
    consent: list[str] = []
    ts: int = 0

    def __post_init__(self) -> None:
        if not self.visitor or len(self.visitor) > 256:
            raise ValueError("visitor must be 1-256 characters")
        if not 8 <= len(self.nonce) <= 128:
            raise ValueError("nonce must be 8-128 characters")


CommandName = Literal[
    "screenshot", "reload", "purge_visitor", "set_log_level", "reprovision", "update"
]


# Milliseconds since the epoch that SQLite can store (found by fuzzing: a larger
# expires_ts overflowed the commands table and escaped the inbox).
TimestampMs = Annotated[int, msgspec.Meta(ge=0, le=2**63 - 1)]


class Command(msgspec.Struct, frozen=True, kw_only=True):
    """An operation central asks of this device on `P/cmd`."""

    cmd_id: str
    cmd: CommandName
    args: dict[str, Any] = {}
    ts: TimestampMs = 0
    expires_ts: TimestampMs

    def __post_init__(self) -> None:
        if not 1 <= len(self.cmd_id) <= 128:
            raise ValueError("cmd_id must be 1-128 characters")


T = TypeVar("T")


def parse(topic: str, payload: bytes | memoryview, kind: type[T]) -> T:
    """Decode and validate `payload`, or PayloadRejected with a plain reason."""
    if len(payload) > MAX_PAYLOAD:
        raise PayloadRejected(topic, f"{len(payload)} bytes is over the {MAX_PAYLOAD} byte limit")
    try:
        return msgspec.json.decode(payload, type=kind)
    except (msgspec.DecodeError, msgspec.ValidationError, ValueError) as exc:
        raise PayloadRejected(topic, str(exc)) from exc
    except RecursionError as exc:  # JSON nested thousands deep, well under MAX_PAYLOAD
        raise PayloadRejected(topic, "JSON nested too deeply") from exc
