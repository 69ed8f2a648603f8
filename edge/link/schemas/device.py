"""What the device sends central, each payload encoded through its struct."""

from __future__ import annotations

from typing import Annotated, Literal

import msgspec
from msgspec import Meta

from edge.link.schemas.common import Id, Scope, Sha256, TimestampMs, Visitor, Zone


class ContentLive(msgspec.Struct, frozen=True, kw_only=True):
    """The manifest playing for one scope."""

    version: int
    expires_ts: TimestampMs
    digest: Annotated[str, Meta(description="SHA-256 (hex) of the manifest's canonical JSON")]


class ContentRefused(msgspec.Struct, frozen=True, kw_only=True):
    """The last manifest refused for one scope (a `content.rejected` event says it too)."""

    version: int | None
    reason: str
    detail: str
    ts: TimestampMs


class ScopeContent(msgspec.Struct, frozen=True, kw_only=True, omit_defaults=True):
    live: ContentLive | None = None
    rejected: ContentRefused | None = None


class ConfigLive(msgspec.Struct, frozen=True, kw_only=True):
    """The config overlay in force for one scope (`config.applied` said it too)."""

    version: int
    expires_ts: TimestampMs
    digest: Annotated[str, Meta(description="SHA-256 (hex) of the overlay's canonical JSON")]


class HealthSummary(msgspec.Struct, frozen=True, kw_only=True):
    """The latest `device.health`, in short (for `omo-ops fleet status`)."""

    ts: TimestampMs
    outbox_pending: int


class PanelState(msgspec.Struct, frozen=True, kw_only=True):
    """The panel's power and whether a display is plugged in (docs/deployment.md)."""

    power: Literal["on", "off"]
    by: Literal["schedule", "override"]
    until_ts: TimestampMs | None = None
    method: Annotated[str, Meta(description='standby by "cec", "dpms" or "none"')]
    connector: Literal["connected", "disconnected", "unknown"]


class State(msgspec.Struct, frozen=True, kw_only=True, omit_defaults=True):
    """`P/state` (retained): whether the device is online, what it runs and shows.

    `offline` is also the MQTT will, so a device that drops off is seen as offline.
    """

    state: Literal["online", "offline"]
    version: str
    protocol: int
    capabilities: list[str]
    clock_synced: bool
    ts: TimestampMs
    display: Literal["starting", "on", "off", "disconnected", "none"] = "starting"
    content: dict[Scope, ScopeContent] = {}
    config: dict[Scope, ConfigLive] = {}
    health: HealthSummary | None = None
    panel: PanelState | None = None


class Decide(msgspec.Struct, frozen=True, kw_only=True):
    """`P/decide`: what to show this visitor? (Response Topic `P/decision`, Correlation
    Data = `request_id` as UTF-8 bytes; central must echo both.)"""

    request_id: Id
    visitor: Visitor
    visit_id: Id
    trigger: Literal["beacon", "checkin"]
    zone: Zone
    ts: TimestampMs


class AssetGet(msgspec.Struct, frozen=True, kw_only=True):
    """`P/asset/get`: please send the asset with this SHA-256 on `P/asset/{sha256}`."""

    sha256: Sha256


class CmdResult(msgspec.Struct, frozen=True, kw_only=True, omit_defaults=True):
    """`P/cmd/result`: the answer to one command."""

    cmd_id: Annotated[str, Meta(min_length=1, max_length=128)]
    ok: bool
    detail: str
    png_b64: str | None = None  # screenshot: the PNG, base64
    lines: list[str] | None = None  # logs: this part's lines, oldest first
    part: Annotated[int, Meta(ge=1)] | None = None  # logs: this result is part `part` ...
    parts: Annotated[int, Meta(ge=1)] | None = None  # ... of `parts` (all share the cmd_id)


Pem = Annotated[str, Meta(min_length=1, max_length=16384)]


class CertRequest(msgspec.Struct, frozen=True, kw_only=True):
    """`P/csr`: the device's client certificate expires within `[mqtt] renew_before`; it made
    a new key and asks for a certificate for it. The CA service answers on `P/cert` with
    the same `request_id`."""

    request_id: Id
    csr_pem: Annotated[
        Pem, Meta(description="PEM PKCS#10 request, CN = device_id, signed by the new key")
    ]
    not_after_ts: Annotated[
        TimestampMs, Meta(description="when the certificate in use now expires")
    ]
    ts: TimestampMs
