"""Presence tracking with the default parameters and a deterministic visit-id counter."""

from __future__ import annotations

import itertools
import uuid
from collections.abc import Callable, Iterable

from hypothesis import given, settings
from hypothesis import strategies as st

from edge.presence.advert import Advert
from edge.presence.decode import APPLE, Beacon
from edge.presence.pipeline import PresencePipeline
from edge.presence.tracker import ZONE_RANK, PresenceEvent, Tracker, TrackerParams, distance_m

P = TrackerParams()
TX = -59  # calibrated power at 1 m
ALICE = Beacon("ibeacon:f7826da6-4fa2-4e98-8024-bc5b71e0893e:1:2", "ibeacon", TX)
BOB = Beacon("ibeacon:f7826da6-4fa2-4e98-8024-bc5b71e0893e:1:3", "ibeacon", TX)

# Signal levels, checked against the zone radii below rather than assumed.
IMMEDIATE = -48  # ~0.3 m
CLOSE = -57  # ~0.8 m
WOBBLE_OUT = -71  # ~3.5 m: outside near_m, inside exit_m
FAR = -85  # ~15 m

STEP = 0.25  # tick period used by the simulations


def counter() -> Callable[[], str]:
    numbers = itertools.count(1)
    return lambda: f"visit-{next(numbers)}"


def new_tracker() -> Tracker:
    return Tracker(P, counter())


def test_signal_levels_fall_in_the_zones_they_are_named_for() -> None:
    def d(rssi: int) -> float:
        return distance_m(rssi, TX, P.path_loss_exponent)

    assert d(IMMEDIATE) <= P.immediate_m
    assert P.immediate_m < d(CLOSE) <= P.near_m
    assert P.near_m < d(WOBBLE_OUT) <= P.exit_m
    assert d(FAR) > P.exit_m


def simulate(
    tracker: Tracker,
    observations: Iterable[tuple[float, Beacon, int]],
    until: float,
    step: float = STEP,
) -> list[PresenceEvent]:
    """Interleave ticks every `step` seconds with observations, in time order (ticks first)."""
    obs = sorted(observations, key=lambda o: o[0])
    events: list[PresenceEvent] = []
    i = 0
    for k in range(int(until / step) + 1):
        now = k * step
        events += tracker.tick(now)
        while i < len(obs) and obs[i][0] < now + step:
            t, beacon, rssi = obs[i]
            events += tracker.observe(beacon, rssi, t)
            i += 1
    return events


def heard(
    beacon: Beacon, rssi: int, start: float, end: float, every: float = 1.0
) -> list[tuple[float, Beacon, int]]:
    n = round((end - start) / every)
    return [(start + j * every, beacon, rssi) for j in range(n + 1)]


def types(events: Iterable[PresenceEvent]) -> list[str]:
    return [e.type for e in events]


def test_close_beacon_enters_once_dwells_periodically_and_exits_on_silence() -> None:
    tracker = new_tracker()
    events = simulate(tracker, heard(ALICE, CLOSE, 0.0, 70.0), until=100.0)

    assert types(events) == ["visit.enter", "visit.dwell", "visit.dwell", "visit.exit"]
    enter, dwell1, dwell2, exit_ = events
    assert enter.t == 0.0
    # Dwells every dwell_interval_s after the enter (ticks are every STEP).
    assert P.dwell_interval_s <= dwell1.t - enter.t < P.dwell_interval_s + STEP
    assert P.dwell_interval_s <= dwell2.t - dwell1.t < P.dwell_interval_s + STEP
    # Last heard at 70 s: the exit comes absence_timeout_s later, not before.
    assert 70.0 + P.absence_timeout_s <= exit_.t < 70.0 + P.absence_timeout_s + STEP
    assert exit_.dwell_ms == 70_000
    assert {e.visit_id for e in events} == {"visit-1"}
    assert {e.visitor for e in events} == {ALICE.identity}
    assert all(e.since == 0.0 for e in events)
    assert tracker.visitors_present == 0


def test_exit_comes_from_tick_alone_without_further_adverts() -> None:
    tracker = new_tracker()
    for t in range(11):
        tracker.observe(ALICE, CLOSE, float(t))
    assert tracker.visitors_present == 1
    # Nothing is heard from now on (the phone went to sleep in a pocket at home).
    assert tracker.tick(10.0 + P.absence_timeout_s - 0.01) == []
    assert tracker.visitors_present == 1
    exits = tracker.tick(10.0 + P.absence_timeout_s)
    assert types(exits) == ["visit.exit"]
    assert exits[0].t == 10.0 + P.absence_timeout_s
    assert tracker.visitors_present == 0
    assert tracker.tick(1000.0) == []


def test_far_beacon_never_enters() -> None:
    tracker = new_tracker()
    events = simulate(tracker, heard(ALICE, FAR, 0.0, 120.0, every=0.2), until=150.0)
    assert events == []
    assert tracker.visitors_present == 0


def test_outside_near_alone_does_not_enter() -> None:
    """The control for the wobble test: WOBBLE_OUT by itself is not a visit."""
    tracker = new_tracker()
    assert simulate(tracker, heard(ALICE, WOBBLE_OUT, 0.0, 60.0, every=0.5), until=80.0) == []


def test_wobble_within_exit_hysteresis_is_one_visit() -> None:
    tracker = new_tracker()
    obs = []
    # 5 s near, 5 s just outside near (but within exit_m), repeated for two minutes.
    for block in range(12):
        rssi = CLOSE if block % 2 == 0 else WOBBLE_OUT
        obs += heard(ALICE, rssi, block * 10.0, block * 10.0 + 9.5, every=0.5)
    last_heard = max(t for t, _, _ in obs)

    events = simulate(tracker, obs, until=last_heard + 20.0)

    assert types(events).count("visit.enter") == 1
    assert types(events).count("visit.exit") == 1
    assert events[-1].type == "visit.exit"
    assert events[-1].t >= last_heard + P.absence_timeout_s
    assert {e.visit_id for e in events} == {"visit-1"}


def test_walking_away_while_still_heard_exits() -> None:
    tracker = new_tracker()
    obs = heard(ALICE, CLOSE, 0.0, 20.0) + heard(ALICE, FAR, 20.5, 60.0, every=0.5)
    events = simulate(tracker, obs, until=60.0)
    assert types(events) == ["visit.enter", "visit.exit"]
    # Last within exit_m shortly after 20 s (smoothing lags a few adverts).
    assert 20.0 + P.absence_timeout_s <= events[1].t <= 25.0 + P.absence_timeout_s


def test_zone_on_exit_is_the_closest_reached() -> None:
    tracker = new_tracker()
    obs = (
        heard(ALICE, CLOSE, 0.0, 10.0)
        + heard(ALICE, IMMEDIATE, 11.0, 20.0, every=0.5)
        + heard(ALICE, CLOSE, 21.0, 40.0)
    )
    events = simulate(tracker, obs, until=60.0)
    assert types(events) == ["visit.enter", "visit.dwell", "visit.exit"]
    assert events[0].zone == "near"
    assert events[1].zone == "immediate"  # the dwell at ~30 s, back in near by then
    assert events[2].zone == "immediate"


def test_returning_after_exit_is_a_new_visit() -> None:
    tracker = new_tracker()
    obs = heard(ALICE, CLOSE, 0.0, 10.0) + heard(ALICE, CLOSE, 40.0, 50.0)
    events = simulate(tracker, obs, until=70.0)
    assert types(events) == ["visit.enter", "visit.exit", "visit.enter", "visit.exit"]
    assert events[0].visit_id == events[1].visit_id == "visit-1"
    assert events[2].visit_id == events[3].visit_id == "visit-2"


def test_two_visitors_are_tracked_apart() -> None:
    tracker = new_tracker()
    obs = heard(ALICE, CLOSE, 0.0, 20.0) + heard(BOB, CLOSE, 5.0, 40.0)
    events = simulate(tracker, obs, until=60.0)
    by_visitor: dict[str, list[str]] = {}
    for e in events:
        by_visitor.setdefault(e.visitor, []).append(e.type)
    assert by_visitor == {
        ALICE.identity: ["visit.enter", "visit.exit"],
        BOB.identity: ["visit.enter", "visit.dwell", "visit.exit"],
    }
    ids = {e.visitor: e.visit_id for e in events}
    assert ids[ALICE.identity] != ids[BOB.identity]


def test_close_all_exits_open_visits_once() -> None:
    tracker = new_tracker()
    tracker.observe(ALICE, CLOSE, 0.0)
    tracker.observe(BOB, CLOSE, 1.0)
    tracker.observe(ALICE, CLOSE, 3.0)
    exits = tracker.close_all(5.0)
    assert sorted((e.type, e.visitor, e.visit_id) for e in exits) == sorted(
        [
            ("visit.exit", ALICE.identity, "visit-1"),
            ("visit.exit", BOB.identity, "visit-2"),
        ]
    )
    assert all(e.t == 5.0 for e in exits)
    assert {e.visitor: e.dwell_ms for e in exits} == {ALICE.identity: 3000, BOB.identity: 0}
    assert tracker.visitors_present == 0
    assert tracker.close_all(6.0) == []
    assert tracker.tick(100.0) == []


# -- the pipeline: advert time drives the ticks ----------------------------------------------


def ibeacon_advert(t: float, minor: int, rssi: int) -> Advert:
    payload = (
        b"\x02\x15"
        + uuid.UUID("f7826da6-4fa2-4e98-8024-bc5b71e0893e").bytes
        + (1).to_bytes(2, "big")
        + minor.to_bytes(2, "big")
        + TX.to_bytes(1, "big", signed=True)
    )
    return Advert(t=t, address="x", rssi=rssi, manufacturer_data={APPLE: payload})


def test_pipeline_replay_exits_at_trace_time() -> None:
    """Fed as fast as Python runs (no sleeping), the exit still lands at the right trace t."""
    pipeline = PresencePipeline(P, counter())
    adverts = [ibeacon_advert(t / 2, 2, CLOSE) for t in range(41)]  # Alice, 0..20 s
    adverts += [ibeacon_advert(20.0 + t * 0.3, 3, FAR) for t in range(1, 101)]  # Bob, far
    adverts.sort(key=lambda a: a.t)

    emitted: list[tuple[float, PresenceEvent]] = []
    for advert in adverts:
        _beacon, events = pipeline.feed(advert)
        emitted += [(advert.t, e) for e in events]

    assert [e.type for _, e in emitted] == ["visit.enter", "visit.exit"]
    fed_at, exit_ = emitted[1]
    assert exit_.visitor == ALICE.identity
    # Last heard at 20 s; the first advert at or after 28 s carries the exit.
    assert 20.0 + P.absence_timeout_s <= exit_.t <= 20.0 + P.absence_timeout_s + 0.3 + 1e-9
    assert fed_at == exit_.t
    assert pipeline.adverts == len(adverts)
    assert pipeline.beacons == len(adverts)


def test_pipeline_close_ends_open_visits() -> None:
    pipeline = PresencePipeline(P, counter())
    for t in range(5):
        pipeline.feed(ibeacon_advert(float(t), 2, CLOSE))
    events = pipeline.close(5.0)
    assert types(events) == ["visit.exit"]
    assert pipeline.close(6.0) == []


def test_pipeline_ignores_non_beacons() -> None:
    pipeline = PresencePipeline(P, counter())
    beacon, events = pipeline.feed(
        Advert(t=0.0, address="x", rssi=-40, manufacturer_data={APPLE: b"\x10\x05\x01"})
    )
    assert beacon is None
    assert events == []
    assert (pipeline.adverts, pipeline.beacons) == (1, 0)


# -- property: the visit grammar -------------------------------------------------------------

steps = st.lists(
    st.one_of(
        st.tuples(
            st.just("obs"),
            st.sampled_from([ALICE, BOB]),
            st.integers(-100, -40),
            st.integers(0, 40).map(lambda k: k / 8),  # dyadic: exact sums, no float fuzz
        ),
        st.tuples(
            st.just("tick"), st.just(ALICE), st.just(0), st.integers(0, 160).map(lambda k: k / 8)
        ),
        # A long stay: one advert and one tick every dt for STAY_S (so dwells happen too).
        st.tuples(
            st.just("stay"),
            st.sampled_from([ALICE, BOB]),
            st.integers(-80, -40),
            st.integers(1, 24).map(lambda k: k / 8),
        ),
    ),
    max_size=60,
)
STAY_S = 45.0


@settings(max_examples=200, deadline=None)
@given(steps=steps)
def test_events_per_visit_follow_enter_dwell_exit(
    steps: list[tuple[str, Beacon, int, float]],
) -> None:
    tracker = new_tracker()
    now = 0.0
    events: list[PresenceEvent] = []
    last_heard: dict[str, float] = {}
    for kind, beacon, rssi, dt in steps:
        now += dt
        if kind == "obs":
            events += tracker.observe(beacon, rssi, now)
            last_heard[beacon.identity] = now
        elif kind == "stay":
            end = now + STAY_S
            while now < end:
                events += tracker.tick(now)
                events += tracker.observe(beacon, rssi, now)
                last_heard[beacon.identity] = now
                now += dt
        else:
            events += tracker.tick(now)
    # Silence long enough: every visit must be over, from ticks alone.
    if last_heard:
        now = max(now, max(last_heard.values()) + P.absence_timeout_s)
    events += tracker.tick(now)
    assert tracker.visitors_present == 0

    visits: dict[str, list[PresenceEvent]] = {}
    open_visit: dict[str, str] = {}
    for e in events:
        if e.type == "visit.enter":
            assert e.visit_id not in visits, "a visit id was reused"
            assert e.visitor not in open_visit, "two open visits for one visitor"
            open_visit[e.visitor] = e.visit_id
            visits[e.visit_id] = [e]
        else:
            assert open_visit.get(e.visitor) == e.visit_id, f"{e.type} outside its visit"
            visits[e.visit_id].append(e)
            if e.type == "visit.exit":
                del open_visit[e.visitor]
    assert open_visit == {}

    for visit in visits.values():
        kinds = [e.type for e in visit]
        assert kinds[0] == "visit.enter"
        assert kinds[-1] == "visit.exit"
        assert set(kinds[1:-1]) <= {"visit.dwell"}
        assert len({e.visitor for e in visit}) == 1
        assert [e.t for e in visit] == sorted(e.t for e in visit)
        ranks = [ZONE_RANK[e.zone] for e in visit]
        assert ranks == sorted(ranks), "the visit's zone is the closest reached so far"
        assert visit[0].zone != "far"
        exit_ = visit[-1]
        assert exit_.dwell_ms is not None
        assert 0 <= exit_.dwell_ms <= round((exit_.t - visit[0].t) * 1000)
