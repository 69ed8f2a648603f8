"""The events a device records and sends in batches on `P/events`, one struct per type.

Every event is checked against its struct when it is recorded, so nothing goes
into the outbox that the contract (docs/protocol.md, docs/schemas/) does not
describe. Fields are only ever added.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

import msgspec
from msgspec import UNSET, Meta, UnsetType

from edge.link.schemas.common import EventId, Id, Scope, Sha256, TimestampMs, Visitor, Zone

Count = Annotated[int, Meta(ge=0)]
Figures = dict[str, int | float | str]


class _Event(msgspec.Struct, frozen=True, kw_only=True, tag_field="type"):
    id: EventId
    ts: TimestampMs
    clock_synced: Annotated[
        bool,
        Meta(description="false: the device's clock was not synchronised when `ts` was taken"),
    ]
    boot_id: (
        Annotated[
            str,
            Meta(
                max_length=64,
                description="the kernel's boot id; set when `clock_synced` is false",
            ),
        ]
        | UnsetType
    ) = UNSET
    mono_ms: (
        Annotated[
            int,
            Meta(
                ge=0,
                description="milliseconds since that boot (never jumps); set when "
                "`clock_synced` is false: true time = mono_ms + clock.corrected's offset_ms",
            ),
        ]
        | UnsetType
    ) = UNSET
    clock_corrected: (
        Annotated[
            bool,
            Meta(description="true: `ts` was corrected on the device once the clock synced"),
        ]
        | UnsetType
    ) = UNSET


class _Visit(_Event, frozen=True, kw_only=True):
    visitor: Visitor | None
    visit_id: Annotated[Id, Meta(description="one id per visit: its enter, dwells and exit")]
    zone: Zone
    rssi: Annotated[int, Meta(description="smoothed signal strength, dBm")]


class VisitEnter(_Visit, frozen=True, tag="visit.enter"):
    """A counted visit began (someone stayed within about 2.5 m). It is recorded once the
    device is confident, up to 10 s after the person left; `since` is when the stay began."""

    since: (
        Annotated[
            int,
            Meta(
                ge=0,
                le=2**63 - 1,
                description="when the stay began, ms since the Unix epoch (`ts` is when the "
                "device became confident); absent only from devices that predate approach.*",
            ),
        ]
        | UnsetType
    ) = UNSET


class VisitDwell(_Visit, frozen=True, tag="visit.dwell"):
    """The visit goes on (every `[presence] dwell_interval_s`)."""


class VisitExit(_Visit, frozen=True, tag="visit.exit"):
    """The visit ended; `dwell_ms` is how long it lasted."""

    dwell_ms: Count


class _Approach(_Visit, frozen=True, kw_only=True):
    visit_id: Annotated[
        Id,
        Meta(
            description="the visit_id of the counted visit this approach became; a passer-by's "
            "approach keeps an id that no visit.* event carries"
        ),
    ]


class ApproachEnter(_Approach, frozen=True, tag="approach.enter"):
    """Someone came near: the fast trigger that asks central for a decision. A passer-by
    may cause one; only visit.* events count visits."""


class ApproachExit(_Approach, frozen=True, tag="approach.exit"):
    """The person who caused the approach.enter with this `visit_id` is no longer near."""


class CheckinEvent(_Event, frozen=True, tag="checkin"):
    """A phone checked in with the code on screen (null `visitor`: no analytics consent)."""

    visitor: Visitor | None
    visit_id: Id
    nonce: Annotated[str, Meta(min_length=8, max_length=128)]
    via: Literal["central", "lan"]


class Impression(_Event, frozen=True, tag="impression"):
    """A slide was on screen (null `request_id` and `visitor` for the store's own content)."""

    content_id: str
    campaign_id: str | None
    variant: str | None
    request_id: Id | None
    visitor: Visitor | None
    shown_ms: Count


class ContentRejected(_Event, frozen=True, tag="content.rejected"):
    """A manifest or asset was refused; what was playing keeps playing."""

    reason: Annotated[str, Meta(description="a stable code, see docs/protocol.md")]
    detail: str
    scope: Scope | None = None
    manifest_version: int | None = None
    sha256: Sha256 | None = None


class ContentLive(_Event, frozen=True, tag="content.live"):
    """A manifest went live: every asset it names is on disk and verified."""

    scope: Scope
    version: int
    expires_ts: TimestampMs
    digest: Annotated[str, Meta(description="SHA-256 (hex) of the manifest's canonical JSON")]


class CertRenewed(_Event, frozen=True, tag="cert.renewed"):
    """The device uses a renewed client certificate: it passed the device's checks and a
    connection of its own with it worked; the old pair was replaced only then."""

    serial: Annotated[str, Meta(description="the new certificate's serial number, hex")]
    not_after_ts: TimestampMs
    previous_not_after_ts: TimestampMs


class CertRejected(_Event, frozen=True, tag="cert.rejected"):
    """A renewal did not happen; the device keeps its certificate and asks again after
    `[mqtt] renew_retry`. `reason`: `ca_refused` (the CA service said why in `detail`),
    `wrong_cn`, `wrong_key`, `no_client_auth`, `not_a_leaf`, `out_of_date`, `bad_chain`,
    `malformed`, `not_newer`, `trial_failed`, `store_failed`."""

    reason: str
    detail: str


class ConfigApplied(_Event, frozen=True, tag="config.applied"):
    """A signed config overlay is in force (live, without a restart)."""

    scope: Scope
    version: int
    digest: Annotated[str, Meta(description="SHA-256 (hex) of the overlay's canonical JSON")]
    keys: Annotated[list[str], Meta(description="the settings it sets, as `section.key`")]


class ConfigRejected(_Event, frozen=True, tag="config.rejected"):
    """A config overlay was refused (or stopped: `expired`); the settings in force before
    it stay. `reason`: `malformed`, `unknown_kid`, `bad_signature`, `wrong_scope`,
    `expired`, `stale_version`, `not_remote`, `unknown_key`, `invalid_value`."""

    scope: Scope | None
    version: int | None
    reason: str
    key: Annotated[str | None, Meta(description="the setting at fault, as `section.key`")]
    value: Annotated[str | None, Meta(description="its value as JSON text (cut to 256 characters)")]
    detail: str


class DeviceHealth(_Event, frozen=True, tag="device.health"):
    """How the device is doing, every `[health] interval_s`. Figures the machine does
    not offer (no thermal zone, no /proc) are left out."""

    uptime_s: Count
    fps: Annotated[float, Meta(ge=0)]
    frames: Count
    display: Literal["starting", "on", "off", "disconnected", "none"]
    disk_free_bytes: Count
    disk_free_pct: Annotated[float, Meta(ge=0, le=100)]
    cpu_temp_c: float | UnsetType = UNSET
    memory_rss_bytes: Count | UnsetType = UNSET
    memory_available_bytes: Count | UnsetType = UNSET
    adverts: Count = 0
    visitors_present: Count = 0
    beacons_tracked: Count = 0
    scanner_state: str = ""
    scanner: Figures = {}
    decode: dict[str, int] = {}
    outbox_pending: Count = 0
    outbox_bytes: Count = 0
    dropped_total: Count = 0
    dropped: dict[str, int] = {}
    storage_ok: Literal[0, 1] = 1
    events_in_memory: Count = 0
    broker_connected: Literal[0, 1] = 0
    incoming_dropped: Count = 0
    rejected_payloads: Count = 0
    handler_errors: Count = 0
    handler_errors_by_route: dict[str, int] = {}
    task_restarts: Count = 0
    task_restarts_by_task: dict[str, int] = {}
    personalize: dict[str, int] = {}
    decide_timeouts: Count = 0
    decide_late: Count = 0
    decide_failed: Count = 0
    checkin: dict[str, int] = {}
    lan: dict[str, int] = {}
    commands_refused: Count = 0
    commands_malformed: Count = 0
    content_rejected: Count = 0
    asset_jobs_failed: Count = 0
    config_rejected: Count = 0
    cert_renewed: Count = 0
    cert_renewal_refused: Count = 0
    panel_power: Literal["on", "off"] | UnsetType = UNSET
    panel_method: str | UnsetType = UNSET
    display_connector: Literal["connected", "disconnected", "unknown"] | UnsetType = UNSET


class ClockCorrected(_Event, frozen=True, tag="clock.corrected"):
    """The clock was synchronised after events of this boot were stamped without it: their
    true time is `mono_ms + offset_ms`. Events still on the device were corrected there
    (`clock_corrected`); central corrects those it already holds from `boot_id`."""

    boot_id: Annotated[str, Meta(max_length=64)]
    offset_ms: Annotated[int, Meta(description="wall clock minus boot clock, once synced")]
    step_ms: Annotated[
        int, Meta(description="how far the wall clock moved at synchronisation (estimate)")
    ]
    corrected: Annotated[int, Meta(ge=0, description="events corrected on the device")]


DisplayPower = Literal["on", "off"]


class DisplayPowerChanged(_Event, frozen=True, tag="display.power"):
    """The panel was put in standby or woken, by the store-hours schedule or an override."""

    power: DisplayPower
    by: Literal["schedule", "override"]
    method: Annotated[str, Meta(description='"cec", "dpms" or "none" (picture only)')]
    until_ts: TimestampMs | None = None


class DisplayDisconnected(_Event, frozen=True, tag="display.disconnected"):
    """No connector reports a display (an HDMI cable out, a dead panel) while the panel
    should be on. Never sent while it is scheduled off (TVs in standby drop hot-plug)."""

    connectors: list[str]


class DisplayConnected(_Event, frozen=True, tag="display.connected"):
    """A display is back after `display.disconnected`."""

    connectors: list[str]


Event = (
    VisitEnter
    | VisitDwell
    | VisitExit
    | ApproachEnter
    | ApproachExit
    | CheckinEvent
    | Impression
    | ContentRejected
    | ContentLive
    | CertRenewed
    | CertRejected
    | ConfigApplied
    | ConfigRejected
    | DeviceHealth
    | ClockCorrected
    | DisplayPowerChanged
    | DisplayDisconnected
    | DisplayConnected
)
"""One event of a batch on `P/events`."""

EVENT_TYPES = tuple(e.__struct_config__.tag for e in Event.__args__)


_STRICT: dict[str, type[msgspec.Struct]] = {}
for _kind in Event.__args__:
    _STRICT[_kind.__struct_config__.tag] = msgspec.defstruct(  # same fields, no extras allowed
        f"Strict{_kind.__name__}",
        [],
        bases=(_kind,),
        forbid_unknown_fields=True,
        tag=_kind.__struct_config__.tag,
        tag_field="type",
        frozen=True,
    )


def event_as_recorded(raw: dict[str, Any]) -> dict[str, Any]:
    """`raw` checked against its type's struct (no field it does not know) and returned
    as that struct encodes it; ValueError says what does not fit."""
    kind = _STRICT.get(str(raw.get("type")))
    if kind is None:
        raise ValueError(f"no event type {raw.get('type')!r} in the contract")
    try:
        event = msgspec.convert(raw, kind)
    except msgspec.ValidationError as exc:
        raise ValueError(f"{raw.get('type')} event does not fit the contract: {exc}") from exc
    return msgspec.to_builtins(event)  # type: ignore[no-any-return]


class EventBatch(msgspec.Struct, frozen=True, kw_only=True):
    """`P/events`: events sent together. A resent batch keeps its `batch_id` and events;
    central de-duplicates by event `id` and acknowledges on `P/events/ack`."""

    batch_id: Id
    device_id: Id
    events: list[Event]
