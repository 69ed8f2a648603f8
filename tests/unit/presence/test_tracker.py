"""Presence tracking with the default parameters and a deterministic visit-id counter.

Expectations are derived from `TrackerParams` and `level_at`, not hard-coded: a
beacon heard at a constant level keeps the Kalman estimate exactly at that
level, so the enter evidence grows by (level - near level) x (advert spacing,
at most `evidence_step_max_s`) per advert after the first.
"""

from __future__ import annotations

import itertools
import math
import random
import uuid
from collections.abc import Callable, Iterable

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from edge.presence.advert import Advert
from edge.presence.decode import APPLE, Beacon
from edge.presence.pipeline import PresencePipeline
from edge.presence.tracker import (
    DEFAULT_TX_POWER_1M,
    ZONE_RANK,
    PresenceEvent,
    Tracker,
    TrackerParams,
    distance_m,
    level_at,
)

P = TrackerParams()
TX = -59  # calibrated power at 1 m
ALICE = Beacon("ibeacon:f7826da6-4fa2-4e98-8024-bc5b71e0893e:1:2", "ibeacon", TX)
BOB = Beacon("ibeacon:f7826da6-4fa2-4e98-8024-bc5b71e0893e:1:3", "ibeacon", TX)

IMMEDIATE_LEVEL = level_at(P.immediate_m, P)
NEAR_LEVEL = level_at(P.near_m, P)
EXIT_LEVEL = level_at(P.exit_m, P)


def rssi_at(distance: float) -> int:
    """The (integer) RSSI the default model expects from ALICE at `distance` metres."""
    return round(TX + level_at(distance, P))


# Signal levels, checked against the zone levels below rather than assumed.
IMMEDIATE = rssi_at(0.3)
CLOSE = rssi_at(1.0)
WOBBLE_OUT = rssi_at((P.near_m + P.exit_m) / 2)  # outside near_m, inside exit_m
FAR = rssi_at(15.0)

STEP = 0.25  # tick period used by the simulations


def counter() -> Callable[[], str]:
    numbers = itertools.count(1)
    return lambda: f"visit-{next(numbers)}"


def new_tracker() -> Tracker:
    return Tracker(P, counter())


def margin_db(rssi: int) -> float:
    """How far above the near level a constant `rssi` from ALICE is."""
    return (rssi - TX) - NEAR_LEVEL


def test_signal_levels_fall_in_the_zones_they_are_named_for() -> None:
    def level(rssi: int) -> float:
        return rssi - TX

    def d(rssi: int) -> float:
        return distance_m(rssi, TX, P.path_loss_exponent, P.body_loss_db)

    assert level(IMMEDIATE) >= IMMEDIATE_LEVEL + 3
    assert NEAR_LEVEL + 3 <= level(CLOSE) <= IMMEDIATE_LEVEL - 3
    # The hysteresis band is narrow with the defaults (under 2 dB); WOBBLE_OUT sits inside it.
    assert EXIT_LEVEL + 0.25 <= level(WOBBLE_OUT) <= NEAR_LEVEL - 0.25
    assert level(FAR) <= EXIT_LEVEL - 10

    assert d(IMMEDIATE) < P.immediate_m
    assert P.immediate_m < d(CLOSE) < P.near_m
    assert P.near_m < d(WOBBLE_OUT) < P.exit_m
    assert d(FAR) > 3 * P.exit_m

    zone_of = new_tracker().zone_of
    assert [zone_of(level(r)) for r in (IMMEDIATE, CLOSE, WOBBLE_OUT, FAR)] == [
        "immediate",
        "near",
        "far",
        "far",
    ]


@pytest.mark.parametrize("distance", [0.3, 0.5, 1.0, 2.5, 3.0, 15.0])
def test_level_at_and_distance_m_are_inverses(distance: float) -> None:
    rssi = TX + level_at(distance, P)
    assert distance_m(rssi, TX, P.path_loss_exponent, P.body_loss_db) == pytest.approx(distance)
    # Without the body loss the same RSSI reads as farther away.
    assert distance_m(rssi, TX, P.path_loss_exponent) > distance


def test_distance_helpers_reference_points() -> None:
    assert level_at(1.0, P) == -P.body_loss_db
    assert distance_m(TX, TX, P.path_loss_exponent) == pytest.approx(1.0)
    # 10x the distance costs 10 * exponent dB.
    assert level_at(10.0, P) == pytest.approx(-P.body_loss_db - 10 * P.path_loss_exponent)
    # An unknown 1 m power falls back to the default.
    assert distance_m(-70, None, 2.0) == distance_m(-70, DEFAULT_TX_POWER_1M, 2.0)
    assert level_at(2.0, P) > level_at(2.5, P) > level_at(3.0, P)


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
    return [(round(start + j * every, 9), beacon, rssi) for j in range(n + 1)]


def types(events: Iterable[PresenceEvent]) -> list[str]:
    return [e.type for e in events]


def first_enter_time(rssi: int, every: float, horizon: float = 60.0) -> float | None:
    """Feed ALICE at a constant `rssi` every `every` s from t=0; when does the visit start?"""
    tracker = new_tracker()
    for t, beacon, r in heard(ALICE, rssi, 0.0, horizon, every):
        events = tracker.observe(beacon, r, t)
        if events:
            assert types(events) == ["visit.enter"]
            return t
    return None


# -- entering: evidence has to build up ------------------------------------------------------


@pytest.mark.parametrize("every", [1.0, 0.5, 0.1])
@pytest.mark.parametrize("distance", [1.0, 1.5, 2.0, 2.3])
def test_enter_takes_enter_evidence_over_the_margin(distance: float, every: float) -> None:
    rssi = rssi_at(distance)
    margin = margin_db(rssi)
    assert margin > 0
    expected = P.enter_evidence_dbs / margin  # seconds of evidence at this margin
    t = first_enter_time(rssi, every)
    assert t is not None
    # The first advert counts for nothing; each later one for `every` seconds.
    assert expected - 1e-9 <= t < expected + every + 1e-9


def test_closer_enters_sooner() -> None:
    times = [first_enter_time(rssi_at(d), 0.1) or math.inf for d in (0.3, 1.0, 1.5, 2.0, 2.3)]
    assert math.inf not in times
    assert times == sorted(times)
    assert len(set(times)) == len(times)


def test_an_advert_counts_as_evidence_for_at_most_evidence_step_max_s() -> None:
    """Adverts 3 s apart count for 1 s each: the enter waits for more of them."""
    every = 3 * P.evidence_step_max_s
    rssi = rssi_at(2.0)
    counted = math.ceil(P.enter_evidence_dbs / (margin_db(rssi) * P.evidence_step_max_s))
    uncounted = math.ceil(P.enter_evidence_dbs / (margin_db(rssi) * every))
    assert counted > uncounted  # the test distinguishes capped from uncapped
    assert first_enter_time(rssi, every) == pytest.approx(counted * every)


def test_enter_zone_is_where_the_visitor_is() -> None:
    tracker = new_tracker()
    events = simulate(tracker, heard(ALICE, IMMEDIATE, 0.0, 3.0) + heard(BOB, CLOSE, 0.0, 3.0), 3.0)
    assert {e.visitor: (e.type, e.zone) for e in events} == {
        ALICE.identity: ("visit.enter", "immediate"),
        BOB.identity: ("visit.enter", "near"),
    }


def approach(
    peak_rssi: int, peak_start: float, peak_s: float, every: float, end: float = 40.0
) -> list[tuple[float, Beacon, int]]:
    """ALICE heard FAR, then at `peak_rssi` for `peak_s` seconds, then FAR again."""
    return [
        (t, b, peak_rssi if peak_start <= t < peak_start + peak_s else r)
        for t, b, r in heard(ALICE, FAR, 0.0, end, every)
    ]


@pytest.mark.parametrize("every", [1.0, 0.5, 0.1])
@pytest.mark.parametrize("peak_s", [1.0, 2.0])
def test_passer_by_brief_peak_does_not_enter(peak_s: float, every: float) -> None:
    """Heard from afar, 1 m away for a second or two, then gone again: not a visit."""
    tracker = new_tracker()
    assert simulate(tracker, approach(CLOSE, 10.0, peak_s, every), until=60.0) == []
    assert tracker.visitors_present == 0


@pytest.mark.parametrize("every", [1.0, 0.5, 0.1])
def test_stopping_for_five_seconds_at_the_same_level_enters(every: float) -> None:
    """The control for the passer-by: the same approach, but staying 5 s, is a visit."""
    tracker = new_tracker()
    events = simulate(tracker, approach(CLOSE, 10.0, 5.0, every), until=60.0)
    assert types(events) == ["visit.enter", "visit.exit"]
    enter, exit_ = events
    assert 10.0 < enter.t < 15.0  # during the stay
    assert enter.zone == "near"
    assert 15.0 <= exit_.t < 15.0 + P.absence_timeout_s  # walked off, still heard: evidence


# -- a visit: dwells, exits ------------------------------------------------------------------


def test_close_beacon_enters_once_dwells_periodically_and_exits_on_silence() -> None:
    tracker = new_tracker()
    events = simulate(tracker, heard(ALICE, CLOSE, 0.0, 70.0), until=100.0)

    assert types(events) == ["visit.enter", "visit.dwell", "visit.dwell", "visit.exit"]
    enter, dwell1, dwell2, exit_ = events
    needed = P.enter_evidence_dbs / margin_db(CLOSE)
    assert needed <= enter.t < needed + 1.0  # adverts once a second
    # Dwells every dwell_interval_s after the enter (ticks are every STEP).
    assert P.dwell_interval_s <= dwell1.t - enter.t < P.dwell_interval_s + STEP
    assert P.dwell_interval_s <= dwell2.t - dwell1.t < P.dwell_interval_s + STEP
    # Last heard at 70 s: the exit comes exactly absence_timeout_s later (a tick lands there).
    assert exit_.t == 70.0 + P.absence_timeout_s
    assert exit_.dwell_ms == round((70.0 - enter.t) * 1000)
    assert exit_.rssi == CLOSE  # the filtered level, settled on the only level heard
    assert {e.visit_id for e in events} == {"visit-1"}
    assert {e.visitor for e in events} == {ALICE.identity}
    assert all(e.since == enter.t for e in events)
    assert all(e.zone == "near" for e in events)
    assert [e.dwell_ms for e in events[:-1]] == [None, None, None]
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

    enter, exit_ = events[0], events[-1]
    dwells = math.floor((exit_.t - enter.t) / P.dwell_interval_s)
    assert types(events) == ["visit.enter"] + ["visit.dwell"] * dwells + ["visit.exit"]
    assert enter.t < 5.0  # during the first near block
    assert exit_.t == last_heard + P.absence_timeout_s  # silence, not the wobble, ended it
    # Every advert was within exit_m, so the visit lasted until the last one.
    assert exit_.dwell_ms == round((last_heard - enter.t) * 1000)
    assert {e.visit_id for e in events} == {"visit-1"}


def test_walking_away_while_still_heard_exits() -> None:
    """Exit evidence ends the visit from adverts alone, well before the absence timeout."""
    tracker = new_tracker()
    obs = heard(ALICE, CLOSE, 0.0, 20.0) + heard(ALICE, FAR, 20.5, 60.0, every=0.5)
    events = [e for t, b, r in obs for e in tracker.observe(b, r, t)]  # no ticks at all
    assert types(events) == ["visit.enter", "visit.exit"]
    enter, exit_ = events
    # A sudden 26 dB drop could be a fade: it takes a few adverts, well inside the timeout.
    assert 20.0 < exit_.t <= 20.0 + 3.0 < 20.0 + P.absence_timeout_s
    assert exit_.t < 20.0 + P.absence_timeout_s
    # The filter lags: it may still have been within exit_m for an advert after 20 s, but
    # the advert that ended the visit was not.
    assert exit_.dwell_ms is not None
    last_near = enter.t + exit_.dwell_ms / 1000
    assert 20.0 <= last_near < exit_.t
    assert exit_.rssi < round(TX + EXIT_LEVEL)
    assert tracker.visitors_present == 0


def test_walking_away_is_not_undone_by_more_far_adverts() -> None:
    tracker = new_tracker()
    obs = heard(ALICE, CLOSE, 0.0, 20.0) + heard(ALICE, FAR, 20.5, 120.0, every=0.5)
    events = simulate(tracker, obs, until=200.0)
    assert types(events) == ["visit.enter", "visit.exit"]


def test_dwell_ms_ends_at_the_last_advert_within_exit_m() -> None:
    """Lingering beyond near_m but within exit_m counts; the silence after it does not."""
    tracker = new_tracker()
    obs = heard(ALICE, CLOSE, 0.0, 10.0) + heard(ALICE, WOBBLE_OUT, 10.5, 20.0, every=0.5)
    events = simulate(tracker, obs, until=40.0)
    assert types(events) == ["visit.enter", "visit.exit"]
    enter, exit_ = events
    assert exit_.t == 20.0 + P.absence_timeout_s
    assert exit_.dwell_ms == round((20.0 - enter.t) * 1000)


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
    assert events[2].t == 40.0 + P.absence_timeout_s


def test_returning_after_exit_is_a_new_visit() -> None:
    tracker = new_tracker()
    obs = heard(ALICE, CLOSE, 0.0, 10.0) + heard(ALICE, CLOSE, 40.0, 50.0)
    events = simulate(tracker, obs, until=70.0)
    assert types(events) == ["visit.enter", "visit.exit", "visit.enter", "visit.exit"]
    assert events[0].visit_id == events[1].visit_id == "visit-1"
    assert events[2].visit_id == events[3].visit_id == "visit-2"
    assert events[1].t == 10.0 + P.absence_timeout_s
    assert 40.0 <= events[2].t <= 42.0
    assert events[3].t == 50.0 + P.absence_timeout_s
    assert events[3].since == events[2].t


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
    exits = {e.visitor: e.t for e in events if e.type == "visit.exit"}
    assert exits == {
        ALICE.identity: 20.0 + P.absence_timeout_s,
        BOB.identity: 40.0 + P.absence_timeout_s,
    }


def test_close_all_exits_open_visits_once() -> None:
    tracker = new_tracker()
    entered = []
    for t, beacon in [(0.0, ALICE), (0.5, BOB), (1.0, ALICE), (1.5, BOB), (3.0, ALICE)]:
        entered += tracker.observe(beacon, CLOSE, t)
    # One second of CLOSE is enough evidence: Alice entered at 1 s, Bob at 1.5 s.
    assert [(e.visitor, e.t) for e in entered] == [(ALICE.identity, 1.0), (BOB.identity, 1.5)]
    exits = tracker.close_all(5.0)
    assert sorted((e.type, e.visitor, e.visit_id) for e in exits) == sorted(
        [
            ("visit.exit", ALICE.identity, "visit-1"),
            ("visit.exit", BOB.identity, "visit-2"),
        ]
    )
    assert all(e.t == 5.0 for e in exits)
    assert {e.visitor: e.dwell_ms for e in exits} == {ALICE.identity: 2000, BOB.identity: 0}
    assert tracker.visitors_present == 0
    assert tracker.close_all(6.0) == []
    assert tracker.tick(100.0) == []


def test_close_all_without_visits_is_empty() -> None:
    tracker = new_tracker()
    tracker.observe(ALICE, FAR, 0.0)
    tracker.observe(ALICE, CLOSE, 0.5)  # not enough evidence yet
    assert tracker.visitors_present == 0
    assert tracker.close_all(1.0) == []


def test_stale_beacons_are_forgotten() -> None:
    """After forget_after_s a beacon's state (filter level, evidence) is dropped."""
    tracker = new_tracker()
    tracker.observe(ALICE, CLOSE, 0.0)  # one advert: no evidence yet, but a track
    assert tracker.tick(P.forget_after_s - 0.01) == []
    assert ALICE.identity in tracker._tracks
    assert tracker.tick(P.forget_after_s) == []
    assert ALICE.identity not in tracker._tracks
    # Heard again: a fresh track, whose first advert counts for nothing.
    assert tracker.observe(ALICE, CLOSE, P.forget_after_s + 1.0) == []


# -- noise: the filter and the hysteresis hold a visit together -------------------------------


def noisy(
    distance: float, start: float, end: float, every: float, seed: int, *, sigma: float = 5.0
) -> list[tuple[float, Beacon, int]]:
    """ALICE standing at `distance`, each advert off by Gaussian noise of `sigma` dB."""
    rng = random.Random(seed)
    mean = TX + level_at(distance, P)
    return [
        (t, b, round(mean + rng.gauss(0.0, sigma)))
        for t, b, _ in heard(ALICE, 0, start, end, every)
    ]


def split_stays(distance: float, every: float, seeds: int = 50) -> int:
    """Of `seeds` two-minute noisy stays at `distance` (approached from afar), how many split?"""
    split = 0
    for seed in range(seeds):
        obs = heard(ALICE, FAR, 0.0, 10.0 - every, every) + noisy(
            distance, 10.0, 130.0, every, seed
        )
        events = simulate(new_tracker(), obs, until=140.0)
        enters = types(events).count("visit.enter")
        assert enters >= 1, f"seed {seed}: never entered"
        split += enters > 1
    return split


@pytest.mark.parametrize("every", [1.0, 0.5, 0.1])
def test_standing_at_1_5_m_with_measurement_noise_is_one_visit(every: float) -> None:
    assert split_stays(1.5, every) == 0


def test_standing_at_2_m_with_fast_adverts_is_one_visit() -> None:
    assert split_stays(2.0, 0.1) == 0


def test_standing_at_2_m_at_one_advert_a_second_is_one_visit() -> None:
    assert split_stays(2.0, 1.0) <= 1


def test_one_faded_advert_does_not_end_a_visit() -> None:
    fade = rssi_at(2.0) - 21
    obs = [(t, b, fade if t == 20.0 else r) for t, b, r in heard(ALICE, rssi_at(2.0), 0.0, 40.0)]
    events = simulate(new_tracker(), obs, until=60.0)
    assert types(events) == ["visit.enter", "visit.dwell", "visit.exit"]


@pytest.mark.parametrize("every", [1.0, 0.1])
def test_one_faded_advert_at_1_m_does_not_end_a_visit(every: float) -> None:
    """The control: at 1 m (or with frequent adverts) one deep fade is absorbed."""
    obs = [(t, b, FAR if t == 20.0 else r) for t, b, r in heard(ALICE, CLOSE, 0.0, 40.0, every)]
    events = simulate(new_tracker(), obs, until=60.0)
    assert types(events) == ["visit.enter", "visit.dwell", "visit.exit"]
    assert events[-1].t == 40.0 + P.absence_timeout_s


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
    # Last heard at 20 s; the first advert at or after 20 s + absence_timeout_s carries the exit.
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
