"""Value types the payloads share: each carries its constraints, so the JSON Schemas in
docs/schemas/ (generated from these types) say exactly what the device accepts."""

from __future__ import annotations

from typing import Annotated, Literal

from msgspec import Meta

TimestampMs = Annotated[
    int,
    Meta(ge=0, le=2**63 - 1, description="milliseconds since the Unix epoch (UTC)"),
]
"""What SQLite's INTEGER can hold: a larger value is refused, never stored wrapped."""

Id = Annotated[str, Meta(min_length=1, max_length=128, description="an opaque id")]
EventId = Annotated[
    str,
    Meta(
        pattern="^[0-9a-f]{8}-[0-9a-f]{4}-7[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$",
        description="a UUIDv7 (time-ordered, unique forever)",
    ),
]
Sha256 = Annotated[
    str, Meta(pattern="^[0-9a-f]{64}$", description="SHA-256 as 64 lowercase hex digits")
]
Visitor = Annotated[
    str,
    Meta(
        min_length=1,
        max_length=256,
        description="a beacon identity or check-in visitor as issued by the platform, "
        "or its pseudonym h{kid}:{hex HMAC-SHA256}; never a MAC address",
    ),
]
Zone = Literal["immediate", "near", "far"]
Consent = Literal["personalize", "analytics"]
Scope = Literal["device", "store"]
