"""The two streams from one model: triggers, counted visits, and how they are linked."""

from __future__ import annotations

import itertools

import pytest

from edge.presence.advert import Advert
from edge.presence.decode import APPLE, Beacon
from edge.presence.encode import ibeacon
from edge.presence.events import EVENT_FIELDS, PresenceEvent, outbox_fields
from edge.presence.pipeline import PresencePipeline
from edge.presence.tracker import Tracker, TrackerParams
from tests.support.presence_signals import (
    BEACON,
    OTHER,
    Radio,
    adverts,
    of,
    passing,
    run,
    types,
    walk_up_and_stay,
)

P = TrackerParams()
QUIET = Radio(noise_db=2.0)


def visitor(
    arrive: float = 20.0,
    leave: float = 60.0,
    spot: float = 1.2,
    seed: int = 1,
    heard_until: float | None = None,
) -> list[tuple[float, Beacon, int]]:
    path = walk_up_and_stay(spot, arrive, leave)
    until = leave + 20 if heard_until is None else heard_until
    return of(BEACON, adverts(path, 0.0, until, 0.3, QUIET, seed))


def test_a_visitor_triggers_first_then_counts_with_the_same_visit_id() -> None:
    events = run(visitor(), 90.0)
    assert types(events, "approach.") == ["approach.enter", "approach.exit"]
    assert types(events, "visit.e") == ["visit.enter", "visit.exit"]
    trigger = next(e for e in events if e.type == "approach.enter")
    enter = next(e for e in events if e.type == "visit.enter")
    leave = next(e for e in events if e.type == "visit.exit")
    assert trigger.t < enter.t
    assert {e.visit_id for e in events} == {trigger.visit_id}
    assert 18.0 <= enter.since <= 21.0  # it came within 2.5 m about 1 s before arriving
    assert enter.t - enter.since >= P.min_stop_s
    assert abs(leave.dwell_ms / 1000 - (60.0 - enter.since)) <= 2.5
    assert leave.t - 60.0 <= 10.0


def test_a_passer_by_trigger_keeps_an_id_no_visit_event_ever_carries() -> None:
    path = passing(0.6, 30.0, 1.2)
    passer = of(OTHER, adverts(path, 0.0, 60.0, 0.2, Radio(offset_db=2.0), 3))
    events = run(passer + visitor(arrive=80, leave=120), 150.0)
    passer_events = [e for e in events if e.visitor == OTHER.identity]
    assert types(passer_events, "visit.") == []
    visit_ids = {e.visit_id for e in events if e.type.startswith("visit.")}
    assert visit_ids and not visit_ids & {e.visit_id for e in passer_events}


def test_the_visit_decision_comes_at_most_10_s_after_a_short_stay_ends() -> None:
    """A 6 s stay is counted, after the carrier left if need be, but never later than 10 s."""
    events = run(visitor(arrive=20.0, leave=26.0, spot=1.0), 60.0)
    enter = next(e for e in events if e.type == "visit.enter")
    assert enter.t <= 26.0 + 10.0


def test_dwells_come_every_dwell_interval_during_a_visit() -> None:
    events = run(visitor(arrive=10.0, leave=100.0), 130.0)
    enter = next(e for e in events if e.type == "visit.enter")
    dwells = [e.t for e in events if e.type == "visit.dwell"]
    assert dwells == pytest.approx(
        [enter.t + k * P.dwell_interval_s for k in range(1, len(dwells) + 1)], abs=P.frame_s
    )
    assert len(dwells) == 2


def test_coming_back_after_leaving_is_a_new_visit() -> None:
    first = visitor(arrive=20.0, leave=50.0)
    again = of(BEACON, adverts(walk_up_and_stay(1.2, 100.0, 130.0), 60.0, 150.0, 0.3, QUIET, 2))
    events = run(first + again, 160.0)
    enters = [e for e in events if e.type == "visit.enter"]
    assert len(enters) == 2 and enters[0].visit_id != enters[1].visit_id


def test_close_all_ends_open_triggers_and_visits_once() -> None:
    numbers = itertools.count(1)
    tracker = Tracker(P, lambda: f"visit-{next(numbers)}")
    events = run(visitor(arrive=10.0, leave=1000.0, heard_until=40.0), 40.0, tracker=tracker)
    assert tracker.visitors_present == 1
    closing = tracker.close_all(40.0)
    assert types(closing) == ["approach.exit", "visit.exit"]
    assert tracker.close_all(41.0) == []
    assert {e.visit_id for e in closing} == {e.visit_id for e in events}


def test_a_purge_drops_the_state_without_events_and_the_next_stay_is_new() -> None:
    numbers = itertools.count(1)
    tracker = Tracker(P, lambda: f"visit-{next(numbers)}")
    run(visitor(arrive=10.0, leave=1000.0, heard_until=40.0), 40.0, tracker=tracker)
    assert tracker.forget(lambda identity: identity == BEACON.identity) == 1
    assert tracker.beacons == 0 and tracker.visitors_present == 0
    assert tracker.close_all(41.0) == []


def test_memory_is_bounded_by_the_beacons_heard_lately() -> None:
    numbers = itertools.count(1)
    tracker = Tracker(P, lambda: f"visit-{next(numbers)}")
    crowd = []
    for n in range(60):
        beacon = Beacon(f"ibeacon:f7826da6-4fa2-4e98-8024-bc5b71e0893e:9:{n}", "ibeacon", -59)
        path = passing(3.0, 10.0 + n, 1.2)
        crowd += of(beacon, adverts(path, 0.0, 100.0, 0.5, QUIET, n))
    run(crowd, 80.0, tracker=tracker)
    assert 0 < tracker.beacons < 60
    run([], 200.0, tracker=tracker)
    assert tracker.beacons == 0


def test_events_come_out_in_time_order() -> None:
    events = run(visitor(arrive=20.0, leave=60.0) + visitor(arrive=30.0, leave=45.0, seed=4), 90)
    times = [e.t for e in events]
    assert times == sorted(times)


def test_every_event_type_lists_its_outbox_fields() -> None:
    ev = PresenceEvent("visit.enter", "v", "id-1", "near", -60, 30.0, 22.5)
    fields = outbox_fields(ev, "hk:v", 1_000_000)
    assert fields == {
        "visitor": "hk:v",
        "visit_id": "id-1",
        "zone": "near",
        "rssi": -60,
        "since": 1_000_000 - 7_500,
    }
    out = outbox_fields(
        PresenceEvent("visit.exit", "v", "id-1", "near", -70, 40, 22.5, 15000), "v", 0
    )
    assert out["dwell_ms"] == 15000 and "since" not in out
    trigger = outbox_fields(
        PresenceEvent("approach.enter", "v", "id-1", "near", -60, 30, 30), "v", 0
    )
    assert set(trigger) == {"visitor", "visit_id", "zone", "rssi"}
    assert set(EVENT_FIELDS) == {
        "approach.enter",
        "approach.exit",
        "visit.enter",
        "visit.dwell",
        "visit.exit",
    }


def test_the_pipeline_ends_open_visits_at_trace_time_and_ignores_non_beacons() -> None:
    numbers = itertools.count(1)
    pipeline = PresencePipeline(P, lambda: f"visit-{next(numbers)}")
    payload = {APPLE: ibeacon("f7826da6-4fa2-4e98-8024-bc5b71e0893e", 1, 2, -59)}
    events = []
    for t, rssi in adverts(walk_up_and_stay(1.2, 20.0, 1000.0), 0.0, 40.0, 0.3, QUIET, 5):
        _beacon, evs = pipeline.feed(
            Advert(t, "00:00:00:00:00:01", rssi, manufacturer_data=payload)
        )
        events += evs
        pipeline.feed(Advert(t, "00:00:00:00:00:02", -40, manufacturer_data={APPLE: b"\x10\x05"}))
    assert pipeline.beacons < pipeline.adverts
    closing = pipeline.close(40.0)
    assert types(events + closing, "visit.e") == ["visit.enter", "visit.exit"]
    assert all(e.t == 40.0 for e in closing)
