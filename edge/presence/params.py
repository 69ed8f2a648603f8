"""The presence model's parameters: every field is a `[presence]` config key of the same name.

Three groups (docs/presence.md explains each): the radio (how a level
relates to distance and how noisy it is), the motion prior (how people move
near a screen: walk up and stop, pass by, linger), and the two decisions
(the fast trigger and the counted visit). Units are in the names.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

Rule = Callable[[float], bool]


def _tuning(default: float, allowed: str = "a positive number", check: Rule | None = None) -> Any:
    """A tuning field; its metadata makes it a `[presence]` config key (edge/config/keys.py)."""
    rule = check if check is not None else (lambda v: v > 0)
    return field(default=default, metadata={"allowed": allowed, "check": rule})


def _share(default: float) -> Any:
    return _tuning(default, "a number between 0 and 1 (exclusive)", lambda v: 0 < v < 1)


def _count(default: int, low: int, high: int) -> Any:
    return field(
        default=default,
        metadata={"allowed": f"an integer {low}-{high}", "check": lambda v: low <= v <= high},
    )


@dataclass(frozen=True, slots=True)
class TrackerParams:
    """The presence model's tuning; each field is a `[presence]` config key (units in names)."""

    # -- the radio: level = advertised 1 m power + offset - 10 n log10(d) + shadowing + noise
    path_loss_exponent: float = _tuning(2.2)  # n: 2 in free space, 2-3 indoors
    # typical absorption by the body or bag carrying the beacon (the offset's prior mean: minus it)
    body_loss_db: float = _tuning(3.0, "a number 0-20", lambda v: 0 <= v <= 20)
    offset_sd_db: float = _tuning(3.0)  # spread of a beacon's fixed offset (calibration, carrying)
    shadow_db: float = _tuning(3.0)  # slow shadowing: its standard deviation ...
    shadow_tau_s: float = _tuning(5.0)  # ... and how long it stays correlated
    advert_noise_db: float = _tuning(4.0)  # fast noise of one advert (multipath, orientation)
    model_error_db: float = _tuning(2.0)  # per frame: what the distance grid and motion miss
    outlier_share: float = _share(0.02)  # frames that fit nothing (a deep fade, a reflection)
    # -- zones
    immediate_m: float = _tuning(0.5)  # closer than this: zone "immediate"
    near_m: float = _tuning(2.5)  # a visit is a stop closer than this ("near")
    exit_m: float = _tuning(3.0)  # ... and is over once the carrier is clearly beyond this
    # beyond this a carrier has left: the visit label is dropped (a track's end is judged before)
    gone_m: float = _tuning(15.0)
    # -- the distance grid and the clock of the filter
    frame_s: float = _tuning(0.5, "a number of seconds 0.1-2", lambda v: 0.1 <= v <= 2)
    min_distance_m: float = _tuning(0.35)  # the grid's nearest distance ...
    max_distance_m: float = _tuning(20.0)  # ... and farthest (beyond: "away")
    distance_bins: int = _count(16, 6, 64)  # distances on the grid, evenly spaced in log distance
    # -- how people move (the motion prior)
    walking_speed_mps: float = _tuning(1.1)  # typical walking speed ...
    walking_speed_spread_mps: float = _tuning(0.3, "a number >= 0", lambda v: v >= 0)  # ... +/-
    passing_share: float = _share(0.67)  # of people walking up within a few metres: passing by
    passing_lanes: int = _count(4, 1, 12)  # passers-by's closest distances, spread over ...
    # ... passing_nearest_m-near_m (an aisle keeps passers-by off the screen itself)
    passing_nearest_m: float = _tuning(0.8, "a number >= 0", lambda v: v >= 0)
    passing_speeds: int = _count(3, 1, 5)  # ... and their speeds (walking speed +/- spread)
    passing_window_s: float = _tuning(3.0)  # a passage is modelled from this long before ...
    # ... its closest point to this long after (a straight line at walking speed)
    stop_rate_per_s: float = _tuning(1.0)  # someone walking in within near_m stops at this rate
    linger_rate_per_s: float = _tuning(0.04)  # ... and beyond near_m (lingering at a distance)
    turn_rate_per_s: float = _tuning(0.005)  # someone walking in turns back at this rate
    min_stop_s: float = _tuning(5.0)  # a visit is a stop within near_m at least this long
    stop_mean_s: float = _tuning(40.0)  # how long a stop near the screen lasts on average
    linger_mean_s: float = _tuning(40.0)  # ... and a stop farther away
    stop_drift_per_s: float = _tuning(0.3)  # while stopped: moves by a step of the grid this often
    arrival_rate_per_s: float = _tuning(0.02)  # an away carrier starts walking in at this rate
    first_heard_anywhere: float = _share(0.3)  # a new beacon may be anywhere (else: arriving)
    # -- the fast trigger (approach.*): asks central for a decision
    trigger_probability: float = _share(0.57)  # P(within near_m, not passing by) to trigger
    trigger_release_probability: float = _share(0.25)  # P(within exit_m) below this: ends
    # -- the counted visit (visit.*)
    visit_probability: float = _share(0.8)  # P(stopped >= min_stop_s within near_m) to count
    visit_release_probability: float = _share(0.3)  # P(within exit_m) below this: visit over
    visit_rearm_probability: float = _share(0.2)  # a new visit only after P(visit) fell below
    # a track not counted while it lasted is judged once it has ended, on all its evidence:
    track_end_probability: float = _share(0.2)  # P(within exit_m) below this: the track ended
    visit_end_probability: float = _share(0.8)  # ... and P(visit) then at least this: a visit
    absence_timeout_s: float = _tuning(6.0)  # unheard this long: whatever is open ends
    dwell_interval_s: float = _tuning(30.0)  # a visit.dwell this often during a visit

    def problems(self) -> list[tuple[str, float, str]]:
        """Rules between keys, as (key, value, what is allowed); empty when consistent."""
        out: list[tuple[str, float, str]] = []
        if not self.immediate_m < self.near_m <= self.exit_m:
            out.append(
                (
                    "near_m",
                    self.near_m,
                    f"above immediate_m ({self.immediate_m}) and at most exit_m ({self.exit_m})",
                )
            )
        if not self.exit_m < self.gone_m < self.max_distance_m:
            out.append(
                (
                    "gone_m",
                    self.gone_m,
                    f"above exit_m ({self.exit_m}) and below max_distance_m "
                    f"({self.max_distance_m})",
                )
            )
        if not self.passing_nearest_m < self.near_m:
            out.append(
                ("passing_nearest_m", self.passing_nearest_m, f"below near_m ({self.near_m})")
            )
        if not self.min_distance_m < self.immediate_m:
            out.append(
                (
                    "min_distance_m",
                    self.min_distance_m,
                    f"below immediate_m ({self.immediate_m})",
                )
            )
        if self.trigger_release_probability >= self.trigger_probability:
            out.append(
                (
                    "trigger_release_probability",
                    self.trigger_release_probability,
                    f"below trigger_probability ({self.trigger_probability})",
                )
            )
        if not self.visit_rearm_probability < self.visit_end_probability <= self.visit_probability:
            out.append(
                (
                    "visit_end_probability",
                    self.visit_end_probability,
                    f"above visit_rearm_probability ({self.visit_rearm_probability}) and at "
                    f"most visit_probability ({self.visit_probability})",
                )
            )
        if not self.visit_rearm_probability < self.visit_probability:
            out.append(
                (
                    "visit_rearm_probability",
                    self.visit_rearm_probability,
                    f"below visit_probability ({self.visit_probability})",
                )
            )
        return out
