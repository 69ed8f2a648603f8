"""Full-jitter reconnect backoff and node failover (edge/link/backoff.py), pure."""

from __future__ import annotations

import random
import statistics

import pytest
from hypothesis import given
from hypothesis import strategies as st

from edge.link.backoff import ReconnectPlan, full_jitter_delay


def top(low: float, high: float) -> float:
    return high


@given(
    failures=st.integers(0, 200),
    base=st.floats(0.1, 60),
    cap=st.floats(1, 3600),
    fraction=st.floats(0, 1),
)
def test_a_wait_is_within_zero_and_the_capped_window(
    failures: int, base: float, cap: float, fraction: float
) -> None:
    delay = full_jitter_delay(failures, base, cap, lambda lo, hi: lo + (hi - lo) * fraction)
    assert 0 <= delay <= min(cap, base * 2.0 ** min(failures, 64)) + 1e-9


def test_the_window_doubles_from_one_second_to_the_thirty_second_cap() -> None:
    windows = [full_jitter_delay(n, 1.0, 30.0, top) for n in range(8)]
    assert windows == [1, 2, 4, 8, 16, 30, 30, 30]


def test_waits_are_spread_over_the_window_not_bunched() -> None:
    rng = random.Random(7)
    waits = [full_jitter_delay(3, 1.0, 30.0, rng.uniform) for _ in range(2000)]
    # Uniform over [0, 8]: mean 4, standard deviation 8/sqrt(12) = 2.31; every eighth of
    # the window gets about an eighth of the devices.
    assert statistics.mean(waits) == pytest.approx(4.0, abs=0.25)
    assert statistics.pstdev(waits) == pytest.approx(2.31, abs=0.15)
    per_slot = [sum(1 for w in waits if k <= w < k + 1) for k in range(8)]
    assert min(per_slot) > 180 and max(per_slot) < 320, per_slot


def test_the_first_attempt_is_at_once_and_retries_wait() -> None:
    plan = ReconnectPlan(["broker"], "screen-1")
    assert plan.next_attempt(top) == ("broker", 0.0)
    assert [plan.next_attempt(top)[1] for _ in range(7)] == [1, 2, 4, 8, 16, 30, 30]


def test_a_good_connection_starts_the_window_again_from_base() -> None:
    plan = ReconnectPlan(["broker"], "screen-1", base_s=1.0, cap_s=30.0)
    for _ in range(6):
        plan.next_attempt(top)
    plan.connected()
    assert plan.next_attempt(top)[1] == 1.0


@given(
    nodes=st.lists(st.text(min_size=1, max_size=8), min_size=1, max_size=5, unique=True),
    rounds=st.integers(1, 5),
)
def test_attempts_go_round_every_node_in_turn(nodes: list[str], rounds: int) -> None:
    plan = ReconnectPlan(nodes, "screen-1")
    tried = [plan.next_attempt(top)[0] for _ in range(rounds * len(nodes))]
    start = nodes.index(tried[0])
    assert tried == [nodes[(start + k) % len(nodes)] for k in range(len(tried))]


def test_a_fleet_starts_spread_over_the_nodes_and_each_device_always_at_the_same() -> None:
    nodes = ["broker-a", "broker-b", "broker-c"]
    first = [ReconnectPlan(nodes, f"omo-{i:04d}").next_attempt(top)[0] for i in range(900)]
    assert all(250 < first.count(n) < 350 for n in nodes), {n: first.count(n) for n in nodes}
    again = [ReconnectPlan(nodes, f"omo-{i:04d}").next_attempt(top)[0] for i in range(900)]
    assert again == first


def test_a_plan_without_nodes_is_refused() -> None:
    with pytest.raises(ValueError, match="at least one broker node"):
        ReconnectPlan([], "screen-1")
