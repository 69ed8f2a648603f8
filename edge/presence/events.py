"""The presence events and their fields: the one place that lists what each event carries.

Two streams come out of one model (docs/presence.md):

- `approach.enter` / `approach.exit`: the fast trigger. It asks central for a
  decision and holds the personal slide. A passer-by may trigger it.
- `visit.enter` / `visit.dwell` / `visit.exit`: the counted visit, emitted
  once the device is confident; one pair per visit, never withdrawn.

An approach carries the `visit_id` of the visit it became (or would have
become: a trigger that turned out to be a passer-by keeps an id that no
`visit.*` event ever carries), so a decision, its impression and the counted
visit join on `visit_id`. docs/protocol.md states the same for central.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Final

APPROACH_ENTER: Final = "approach.enter"
APPROACH_EXIT: Final = "approach.exit"
VISIT_ENTER: Final = "visit.enter"
VISIT_DWELL: Final = "visit.dwell"
VISIT_EXIT: Final = "visit.exit"

# What each event carries in the outbox (besides id, type, ts, clock_synced):
# visitor (as issued, or its pseudonym), visit_id, zone (closest reached so far),
# rssi (the model's smoothed level, dBm); `since` on visit.enter (when the stay
# began, ms since the epoch: the enter is emitted later, once confident);
# `dwell_ms` on visit.exit.
EVENT_FIELDS: Final[dict[str, tuple[str, ...]]] = {
    APPROACH_ENTER: ("visitor", "visit_id", "zone", "rssi"),
    APPROACH_EXIT: ("visitor", "visit_id", "zone", "rssi"),
    VISIT_ENTER: ("visitor", "visit_id", "zone", "rssi", "since"),
    VISIT_DWELL: ("visitor", "visit_id", "zone", "rssi"),
    VISIT_EXIT: ("visitor", "visit_id", "zone", "rssi", "dwell_ms"),
}
FIELD_TYPES: Final[dict[str, str]] = {
    "visitor": "string",
    "visit_id": "string (UUIDv7)",
    "zone": '"immediate" | "near"',
    "rssi": "integer, dBm",
    "since": "integer, ms since the Unix epoch",
    "dwell_ms": "integer >= 0",
}


@dataclass(frozen=True, slots=True)
class PresenceEvent:
    """One event of either stream for one beacon identity, at tracker time `t` (seconds).

    `since`: when the stay began (visit.enter: the estimate; approach: the trigger's
    start), in tracker time. `dwell_ms`: on visit.exit, from `since` to the last frame
    the carrier was within exit distance.
    """

    type: str
    visitor: str
    visit_id: str
    zone: str
    rssi: int
    t: float
    since: float
    dwell_ms: int | None = None


def outbox_fields(ev: PresenceEvent, visitor: str, now_ms: int) -> dict[str, Any]:
    """The fields `ev` is recorded with: `visitor` in its public form, `now_ms` the wall clock
    at `ev.t` (tracker time is a monotonic clock; `since` is moved onto the wall clock)."""
    values: dict[str, Any] = {
        "visitor": visitor,
        "visit_id": ev.visit_id,
        "zone": ev.zone,
        "rssi": ev.rssi,
        "since": now_ms - round((ev.t - ev.since) * 1000),
        "dwell_ms": ev.dwell_ms,
    }
    return {name: values[name] for name in EVENT_FIELDS[ev.type]}
