"""`device.health` as central receives it: services' counters grouped into the event's
maps, every field of the contract, nothing it does not describe."""

from __future__ import annotations

import pytest

from edge.app.health import grouped
from edge.ids import new_id
from edge.link.schemas.events import event_as_recorded


def test_prefixed_counters_land_in_their_maps_and_totals_stay_flat() -> None:
    flat = {
        "uptime_s": 5,
        "decode_ibeacon": 3,
        "scanner_state": "replaying",
        "scanner_malformed_lines": 1,
        "dropped_total": 4,
        "dropped_visit.dwell": 4,
        "handler_errors": 2,
        "handler_errors_cmd": 2,
        "task_restarts_sync": 1,
        "checkin_ok": 7,
        "personalize_requested": 9,
        "lan_checkin.200": 1,
    }
    out = grouped(flat)
    assert out["decode"] == {"ibeacon": 3}
    assert out["scanner_state"] == "replaying" and out["scanner"] == {"malformed_lines": 1}
    assert out["dropped_total"] == 4 and out["dropped"] == {"visit.dwell": 4}
    assert out["handler_errors"] == 2 and out["handler_errors_by_route"] == {"cmd": 2}
    assert out["task_restarts_by_task"] == {"sync": 1}
    assert out["checkin"] == {"ok": 7} and out["lan"] == {"checkin.200": 1}
    assert out["personalize"] == {"requested": 9}


def health(**fields: object) -> dict[str, object]:
    base = {
        "id": new_id(),
        "type": "device.health",
        "ts": 1,
        "clock_synced": True,
        "uptime_s": 1,
        "fps": 0.0,
        "frames": 0,
        "display": "on",
        "disk_free_bytes": 1,
        "disk_free_pct": 50.0,
    }
    return base | fields


def test_a_health_event_the_contract_does_not_describe_is_a_bug_caught_at_once() -> None:
    recorded = event_as_recorded(health(outbox_pending=3))
    assert recorded["outbox_pending"] == 3 and "cpu_temp_c" not in recorded  # absent, not null
    with pytest.raises(ValueError, match="unknown field `mystery_counter`"):
        event_as_recorded(health(mystery_counter=1))
    with pytest.raises(ValueError, match="no event type"):
        event_as_recorded({"type": "visit.teleport"})
