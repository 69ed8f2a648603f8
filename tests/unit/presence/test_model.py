"""The motion model: its transition keeps probability, moves it where the docs say, and the
block-by-block product equals the dense matrix."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from edge.presence.model import IMMEDIATE, NEAR, TRIGGER, VISIT, WITHIN_EXIT, MotionModel
from edge.presence.params import TrackerParams
from tests.support.examples import examples

P = TrackerParams()
MODEL = MotionModel(P)
LAY = MODEL.layout


def state(name: str) -> int:
    """The index of the state `describe` calls `name` (its first one)."""
    for i in range(LAY.size):
        if MODEL.describe(i) == name:
            return i
    raise KeyError(name)


def after(start: int, frames: int) -> np.ndarray:
    row = np.zeros((1, LAY.size))
    row[0, start] = 1.0
    for _ in range(frames):
        row = MODEL.transition.apply(row)
    return row[0].astype(np.float64)


def test_the_transition_is_a_stochastic_matrix() -> None:
    t = MODEL.transition.matrix()
    assert t.shape == (LAY.size, LAY.size)
    assert (t >= 0).all()
    assert np.allclose(t.sum(axis=1), 1.0, atol=1e-6)


@settings(max_examples=examples(50), deadline=None)
@given(
    bins=st.integers(8, 24),
    frame=st.sampled_from([0.25, 0.5, 1.0]),
    lanes=st.integers(1, 6),
    speeds=st.integers(1, 4),
    share=st.floats(0.05, 0.9),
    min_stop=st.floats(1.0, 8.0),
    nearest=st.floats(0.0, 2.0),
)
def test_any_valid_parameters_give_a_stochastic_matrix(
    bins: int, frame: float, lanes: int, speeds: int, share: float, min_stop: float, nearest: float
) -> None:
    p = dataclasses.replace(
        P,
        distance_bins=bins,
        frame_s=frame,
        passing_lanes=lanes,
        passing_speeds=speeds,
        passing_share=share,
        min_stop_s=min_stop,
        passing_nearest_m=nearest,
    )
    t = MotionModel(p).transition.matrix()
    assert (t >= -1e-9).all()
    assert np.allclose(t.sum(axis=1), 1.0, atol=1e-5)


def test_the_block_product_equals_the_dense_matrix() -> None:
    rows = np.random.default_rng(3).random((7, LAY.size))
    dense = rows @ MODEL.transition.matrix()
    assert np.allclose(MODEL.transition.apply(rows), dense, rtol=1e-5, atol=1e-7)


def test_a_passage_advances_about_a_frame_a_frame_and_ends_walking_away() -> None:
    start = LAY.x0  # lane 0, slowest speed, first phase
    one = after(start, 1)
    assert one[start + 1] > 0.9
    done = after(start, 2 * LAY.phases)
    outward = done[LAY.on0 : LAY.core].sum() + done[0]
    assert outward > 0.99


def test_a_stop_reaches_the_visit_stage_after_min_stop_s_not_before() -> None:
    first = LAY.s0 + 4  # stop at the fifth grid distance, stage 0
    early = after(first, LAY.stages - 1) @ MODEL.summary[:, VISIT]
    on_time = after(first, LAY.stages) @ MODEL.summary[:, VISIT]
    assert early == 0.0
    assert on_time > 0.95
    assert LAY.stages * P.frame_s == pytest.approx(P.min_stop_s)


def test_a_walker_coming_in_gets_closer() -> None:
    far = state(f"in({MODEL.grid[-1]:.2f} m)")
    d0 = float(after(far, 0) @ MODEL.distance)
    d10 = float(after(far, 10) @ MODEL.distance)
    assert d10 < d0 - 3


def test_a_new_beacon_is_never_already_in_a_long_stop_or_a_visit() -> None:
    prior = MODEL.prior
    assert prior.sum() == pytest.approx(1.0)
    assert prior @ MODEL.summary[:, VISIT] == 0.0
    stops = prior[LAY.s0 : LAY.x0].reshape(LAY.stages + 1, LAY.near_bins)
    assert stops[1:].sum() == 0.0 and stops[0].sum() > 0


def test_zones_nest_and_passers_by_are_not_who_the_screen_is_for() -> None:
    s = MODEL.summary
    assert (s[:, IMMEDIATE] <= s[:, NEAR] + 1e-12).all()
    assert (s[:, NEAR] <= s[:, WITHIN_EXIT] + 1e-12).all()
    assert (s[LAY.x0 :, TRIGGER] == 0).all()
    assert (s[: LAY.x0, TRIGGER] == s[: LAY.x0, NEAR]).all()
    close = state(f"in({MODEL.grid[2]:.2f} m)")
    far = state(f"in({MODEL.grid[-3]:.2f} m)")
    assert s[close, NEAR] == 1.0 and s[far, NEAR] == 0.0
