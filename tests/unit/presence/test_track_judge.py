"""A track not counted while it lasted is judged once it has ended, on all its evidence.

The visit label stays in the model's state while the carrier walks away, so
P(visit) when the track ends (P(within exit_m) below `track_end_probability`,
or silence) is the posterior that the whole track held a qualifying stop. A
stay too short or too faint to count while it lasted is counted then, with
`visit.enter` and `visit.exit` together and never more than 10 s after the
person left; a passer-by's track never is.
"""

from __future__ import annotations

import dataclasses

from hypothesis import given, settings
from hypothesis import strategies as st

from edge.presence.decode import Beacon
from edge.presence.params import TrackerParams
from tests.support.examples import examples
from tests.support.presence_signals import (
    BEACON,
    Radio,
    adverts,
    of,
    passing,
    run,
    types,
    walk_up_and_stay,
)

P = TrackerParams()
# early counting out of reach: every visit has to come from the judge at the track's end
JUDGE_ONLY = dataclasses.replace(P, visit_probability=0.9999)
PROPERTY = settings(max_examples=examples(30), deadline=None, derandomize=True)


def stay(
    spot: float, arrive: float, leave: float, radio: Radio, seed: int, interval: float = 0.3
) -> list[tuple[float, Beacon, int]]:
    return of(
        BEACON,
        adverts(walk_up_and_stay(spot, arrive, leave), 0.0, leave + 30, interval, radio, seed),
    )


def test_a_stay_is_counted_when_its_track_ends_with_enter_and_exit_together() -> None:
    events = run(stay(1.2, 20.0, 32.0, Radio(noise_db=2.0), 1), 70.0, JUDGE_ONLY)
    visits = [e for e in events if e.type.startswith("visit.")]
    assert [e.type for e in visits] == ["visit.enter", "visit.exit"]
    enter, leave = visits
    assert enter.t == leave.t  # decided once, on the whole track
    assert 32.0 < enter.t <= 32.0 + 10.0  # after the person left, within the scorer's 10 s
    assert 18.0 <= enter.since <= 21.0  # the stay is dated from the arrival, not the decision
    assert abs(leave.dwell_ms / 1000 - (32.0 - enter.since)) <= 2.5
    trigger = next(e for e in events if e.type == "approach.enter")
    assert enter.visit_id == trigger.visit_id  # the trigger it became


def test_a_track_that_ends_in_silence_is_judged_too() -> None:
    """The beacon stops at the screen (switched off, put in a drawer) after a stay."""
    heard = adverts(walk_up_and_stay(1.0, 20.0, 1000.0), 0.0, 35.0, 0.3, Radio(noise_db=2.0), 2)
    events = run(of(BEACON, heard), 60.0, JUDGE_ONLY)
    assert types(events, "visit.") == ["visit.enter", "visit.exit"]
    enter = next(e for e in events if e.type == "visit.enter")
    assert 35.0 < enter.t <= 35.0 + P.absence_timeout_s + P.frame_s + 0.25


def test_the_judge_can_be_made_stricter_than_the_track_allows() -> None:
    """visit_end_probability is the judge's bar: at the top of its range nothing short counts."""
    strict = dataclasses.replace(JUDGE_ONLY, visit_end_probability=0.9999)
    events = run(stay(1.2, 20.0, 32.0, Radio(noise_db=2.0), 1), 70.0, strict)
    assert types(events, "visit.") == []
    assert types(events, "approach.") == ["approach.enter", "approach.exit"]


def test_the_judge_keys_are_checked_against_the_other_visit_keys() -> None:
    bad = dataclasses.replace(P, visit_end_probability=0.1)  # below the re-arm bar
    assert [key for key, _value, _rule in bad.problems()] == ["visit_end_probability"]
    assert P.problems() == []


@PROPERTY
@given(
    offset=st.floats(-6.0, 6.0),
    spot=st.floats(0.5, 2.0),
    length=st.floats(8.0, 40.0),
    interval=st.floats(0.1, 0.6),
    seed=st.integers(0, 2**16),
)
def test_a_stay_is_one_visit_decided_at_most_10_s_after_leaving(
    offset: float, spot: float, length: float, interval: float, seed: int
) -> None:
    radio = Radio(offset_db=offset, noise_db=2.0)
    arrive = 20.0
    events = run(stay(spot, arrive, arrive + length, radio, seed, interval), arrive + length + 40)
    assert types(events, "visit.e") == ["visit.enter", "visit.exit"]
    enter = next(e for e in events if e.type == "visit.enter")
    assert enter.t <= arrive + length + 10.0


@PROPERTY
@given(
    offset=st.floats(-6.0, 6.0),
    closest=st.floats(0.5, 2.0),
    speed=st.floats(0.9, 1.5),
    interval=st.floats(0.1, 1.0),
    seed=st.integers(0, 2**16),
)
def test_a_passer_by_track_is_never_judged_a_visit(
    offset: float, closest: float, speed: float, interval: float, seed: int
) -> None:
    radio = Radio(offset_db=offset, noise_db=2.0)
    heard = adverts(passing(closest, 30.0, speed), 0.0, 60.0, interval, radio, seed)
    events = run(of(BEACON, heard), 70.0, JUDGE_ONLY)
    assert types(events, "visit.") == []
