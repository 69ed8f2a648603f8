"""What central sends the device: each payload a struct, validated where it enters.

Unknown fields are ignored (central may be newer than the device); a value
outside its type's limits is refused (PayloadRejected) with a plain reason.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

import msgspec
from msgspec import Meta

from edge.content.slides import Slide
from edge.link.schemas.common import Id, Sha256, TimestampMs, Visitor


class EventsAck(msgspec.Struct, frozen=True, kw_only=True):
    """`P/events/ack`: the whole batch is stored centrally; the device may delete it."""

    batch_id: Id


class Decision(msgspec.Struct, frozen=True, kw_only=True):
    """`P/decision`: what to show a visitor; `slide` null means nothing personal.

    Sent with the request's Correlation Data (MQTT 5) and its `request_id`.
    """

    request_id: Id
    visitor: Visitor
    show_ms: Annotated[
        int, Meta(ge=0, le=3_600_000, description="how long the slide stays on screen")
    ]
    ttl_ms: Annotated[
        int,
        Meta(ge=0, description="how long the device may reuse this decision for this visitor"),
    ] = 0
    slide: Slide | None = None
    content_id: Annotated[str, Meta(max_length=128)] = ""
    campaign_id: Annotated[str, Meta(max_length=128)] | None = None
    variant: Annotated[str, Meta(max_length=64)] | None = None


class Checkin(msgspec.Struct, frozen=True, kw_only=True):
    """`P/checkin`: a phone scanned this screen's QR code (delivered by central)."""

    visitor: Visitor
    nonce: Annotated[str, Meta(min_length=8, max_length=128)]
    consent: Annotated[
        list[str],
        Meta(
            max_length=16,
            description='what the visitor agreed to: "personalize" (personal content), '
            '"analytics" (events may name them); other values are ignored',
        ),
    ] = []
    ts: TimestampMs = 0


class AssetMissing(msgspec.Struct, frozen=True, kw_only=True):
    """`P/asset/missing`: central has no asset with this SHA-256 (the device stops asking,
    and rejects the manifest that needs it with `missing_asset`)."""

    sha256: Sha256
    detail: Annotated[str, Meta(max_length=1000)] = ""


LogLevel = Literal["debug", "info", "warning", "error"]


class _Command(msgspec.Struct, frozen=True, kw_only=True, tag_field="cmd"):
    cmd_id: Annotated[str, Meta(min_length=1, max_length=128)]
    ts: TimestampMs = 0
    expires_ts: TimestampMs


class NoArgs(msgspec.Struct, frozen=True):
    """No arguments (unknown ones are ignored)."""


class Screenshot(_Command, frozen=True, tag="screenshot"):
    """A PNG of the screen as shoppers see it, in the result's `png_b64`."""

    args: NoArgs = NoArgs()


class Reload(_Command, frozen=True, tag="reload"):
    """Read every asset again and repaint what is on screen."""

    args: NoArgs = NoArgs()


class VisitorArgs(msgspec.Struct, frozen=True):
    visitor: Visitor


class PurgeVisitor(_Command, frozen=True, tag="purge_visitor"):
    """Erase everything about `args.visitor` (as issued, or a pseudonym) on the device."""

    args: VisitorArgs


class LevelArgs(msgspec.Struct, frozen=True):
    level: LogLevel


class SetLogLevel(_Command, frozen=True, tag="set_log_level"):
    """Change the daemon's log level until it restarts."""

    args: LevelArgs


class Reprovision(_Command, frozen=True, tag="reprovision"):
    """Answered first; then the device leaves its store and shows its pairing screen."""

    args: NoArgs = NoArgs()


class UpdateArgs(msgspec.Struct, frozen=True, kw_only=True):
    """The wheel by `url` (https) or as an asset by `sha256`, and its signature `sig`
    (base64 Ed25519 by the release key); an unsigned one is refused with a reason."""

    sig: Annotated[str, Meta(max_length=1024)] | None = None
    sha256: Sha256 | None = None
    url: Annotated[str, Meta(min_length=1, max_length=2048)] | None = None


class Update(_Command, frozen=True, tag="update"):
    """Fetch (by `url`, or as an asset by `sha256`), verify and stage a signed wheel."""

    args: UpdateArgs


class LogsArgs(msgspec.Struct, frozen=True, kw_only=True):
    lines: Annotated[int, Meta(ge=1, le=5000, description="the newest this many lines")] = 200
    since: Annotated[
        int, Meta(ge=0, le=2**63 - 1, description="only lines at or after this (ms since epoch)")
    ] = 0


class Logs(_Command, frozen=True, tag="logs"):
    """The daemon's recent log lines, redacted as its logs are; answered in one or more
    results (`part` of `parts`, each under 64 KiB, at most 512 KiB in all)."""

    args: LogsArgs = LogsArgs()


class DisplayArgs(msgspec.Struct, frozen=True, kw_only=True):
    power: Annotated[
        Literal["on", "off", "auto"],
        Meta(description='"auto": follow the store-hours schedule again'),
    ]
    until: TimestampMs | None = None


class DisplayCmd(_Command, frozen=True, tag="display"):
    """Override the panel's store-hours schedule: `on` or `off` until `until` (ms since
    epoch; none: until the next `auto`), or `auto` to follow the schedule again."""

    args: DisplayArgs


Command = (
    Screenshot | Reload | PurgeVisitor | SetLogLevel | Reprovision | Update | Logs | DisplayCmd
)
"""`P/cmd`: an operation central asks of this device."""

COMMAND_NAMES = tuple(c.__struct_config__.tag for c in Command.__args__)


def command_args(cmd: Any) -> dict[str, Any]:
    """A command's arguments as plain values (for logs and answers)."""
    return msgspec.to_builtins(cmd.args)  # type: ignore[no-any-return]


Pem = Annotated[str, Meta(min_length=1, max_length=16384)]


class _CertReply(msgspec.Struct, frozen=True, kw_only=True, tag_field="status"):
    request_id: Annotated[Id, Meta(description="the `request_id` of the `P/csr` answered")]


class CertIssued(_CertReply, frozen=True, tag="issued"):
    """A certificate for the key of the request. The device checks it (CN, key, clientAuth,
    chain to a root in its own `tls_ca`), tries it on a connection of its own and only then
    uses it."""

    cert_pem: Annotated[Pem, Meta(description="the client certificate (PEM)")]
    chain_pem: Annotated[
        str,
        Meta(
            max_length=65536,
            description="intermediate CA certificates between it and the root (PEM); "
            "the root is never taken from here",
        ),
    ] = ""


class CertDeclined(_CertReply, frozen=True, tag="refused"):
    """The CA service will not sign: `reason` is one of `malformed`, `wrong_cn`,
    `unknown_device`, `wrong_store`, `revoked`, `too_soon`."""

    reason: Annotated[str, Meta(min_length=1, max_length=64)]
    detail: Annotated[str, Meta(max_length=1000)] = ""


CertReply = CertIssued | CertDeclined
"""`P/cert`: the CA service's answer to a `P/csr`."""
