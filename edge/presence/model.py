"""The motion model: what a carried beacon may be doing, as the states of a hidden Markov model.

Distances are a grid, evenly spaced in log distance from `min_distance_m` to
`max_distance_m` (so evenly spaced in dB). A state is a motion and where it is:

- `away`: beyond the grid (not yet arrived, or gone);
- `in(d)`: walking toward the screen, radially, at walking speed;
- `stop(d, c)`: stopped within `near_m`, for c frames so far (c counts up to
  `min_stop_s`, then stays): a visit needs the last stage;
- `linger(d)`: stopped beyond `near_m`;
- `out_v(d)`, `out(d)`: walking away, after a qualifying stop (the visit label
  is kept until `gone_m`) or not;
- `pass(l, k)`: passing by on a straight line whose closest point is lane l
  (evenly spread over `passing_nearest_m`-`near_m`), k frames into a passage of
  2 x `passing_window_s`; its distance is hypot(lane, speed x time from the
  closest point), so the rounded peak of a passer-by's level is modelled as
  it is, not as a walk up and a turn.

The state says where the carrier is; the beacon's own fixed offset and the
slow shadowing are continuous and sit in a Gaussian per state (edge/presence/
filterbank.py). The transition over one frame is applied block by block
(`Transition.apply`), never as a dense matrix product; `Transition.matrix()`
gives the dense matrix for tests and for prediction.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt

from edge.presence.params import TrackerParams

Array = npt.NDArray[np.float64]
Rows = npt.NDArray[np.floating[Any]]  # rows x states, in DTYPE (or float64 in tests)
# The filter's arithmetic: single precision is plenty for probabilities renormalised every
# frame and dB-scale moments, and halves the memory traffic (1.4x faster at 500 beacons).
DTYPE = np.float32
AWAY_EXTRA_DB2 = 36.0  # how far beyond the grid an away carrier may be, as level variance

# columns of `MotionModel.summary` (and of `FilterBank.summary`, which adds LEVEL)
NEAR, WITHIN_EXIT, IMMEDIATE, TRIGGER, VISIT, LEVEL = range(6)


def _per_frame(rate_per_s: float, frame_s: float) -> float:
    """The chance that an event of this rate happens within one frame."""
    return 1.0 - math.exp(-rate_per_s * frame_s)


@dataclass(frozen=True)
class Layout:
    """Where each kind of state sits in the state vector."""

    bins: int  # J: distances on the grid
    near_bins: int  # grid distances within near_m (the first ones)
    gone_bins: int  # grid distances within gone_m
    stages: int  # C: frames a stop must last to count (the stop chain has C + 1 stages)
    lanes: int
    phases: int  # K: frames of a modelled passage

    @property
    def i0(self) -> int:  # in(d)
        return 1

    @property
    def l0(self) -> int:  # linger(d), d beyond near_m
        return self.i0 + self.bins

    @property
    def ov0(self) -> int:  # out_v(d), d within gone_m
        return self.l0 + self.bins - self.near_bins

    @property
    def on0(self) -> int:  # out(d)
        return self.ov0 + self.gone_bins

    @property
    def core(self) -> int:  # away, in, linger, out_v, out
        return self.on0 + self.bins

    @property
    def s0(self) -> int:  # stop(d, c): (stages + 1) x near_bins, distance fastest
        return self.core

    @property
    def x0(self) -> int:  # pass(l, k): lanes x phases, phase fastest
        return self.s0 + self.near_bins * (self.stages + 1)

    @property
    def size(self) -> int:
        return self.x0 + self.lanes * self.phases


class Transition:
    """One frame of motion, applied to many probability rows at once (rows x states)."""

    def __init__(self, layout: Layout, core: Array, stop_in: Array, entry: Array, p: _Rates):
        self.layout = layout
        self.core = core  # core -> core
        self.stop_in = stop_in  # in(d) -> stop(d, 0), per near bin
        self.entry = entry  # in(d) -> pass(l, 0): bins x lanes
        self.p = p
        lay = layout
        # a stopped carrier's small moves along the distance grid, kept within near_m
        nb, d = lay.near_bins, p.drift
        self.drift = np.zeros((nb, nb))
        for j in range(nb):
            self.drift[j, j] += 1 - 2 * d
            self.drift[j, max(0, j - 1)] += d
            self.drift[j, min(nb - 1, j + 1)] += d
        self.drift_kept = self.drift * (1 - p.stop_end)
        self._lane_starts = np.arange(lay.lanes) * lay.phases
        # stop(d, C) -> out_v(d) and the last passage phases -> out(d): small dense blocks
        self.stop_out = np.zeros((lay.near_bins, lay.core))
        for j in range(lay.near_bins):
            self.stop_out[j, lay.ov0 + j] = p.stop_end
        self.pass_out = np.zeros((2 * lay.lanes, lay.core))
        for lane in range(lay.lanes):
            for j, w in p.pass_exit[lane]:
                self.pass_out[2 * lane, lay.on0 + j] += w * p.jitter  # from K-2, two ahead
                self.pass_out[2 * lane + 1, lay.on0 + j] += w * (1 - p.jitter)  # from K-1
        for name in ("core", "stop_in", "entry", "drift", "drift_kept", "stop_out", "pass_out"):
            setattr(self, name, getattr(self, name).astype(DTYPE))

    def apply(self, rows: Rows) -> Rows:
        """rows x states -> rows x states: the distribution one frame later (no evidence)."""
        lay, p = self.layout, self.p
        n, c, k = rows.shape[0], lay.stages, lay.phases
        core = rows[:, : lay.core]
        stops = rows[:, lay.s0 : lay.x0].reshape(n, c + 1, lay.near_bins)
        passes = rows[:, lay.x0 :].reshape(n, lay.lanes, k)
        out = np.empty_like(rows)
        ends = passes[:, :, k - 2 :].reshape(n, 2 * lay.lanes)
        out[:, : lay.core] = core @ self.core + stops[:, c] @ self.stop_out + ends @ self.pass_out
        new_stops = out[:, lay.s0 : lay.x0].reshape(n, c + 1, lay.near_bins)
        new_stops[:, 0] = core[:, lay.i0 : lay.i0 + lay.near_bins] * self.stop_in
        np.matmul(stops[:, :c], self.drift, out=new_stops[:, 1:])
        new_stops[:, c] += stops[:, c] @ self.drift_kept
        # passages: each advances a frame (sometimes none or two), as flat rows; the terms
        # that the flat shift carries across from one lane's end to the next are put right
        old, new, jit = rows[:, lay.x0 :], out[:, lay.x0 :], p.jitter
        np.multiply(old, jit, out=new)
        new[:, 1:] += (1 - 2 * jit) * old[:, :-1]
        new[:, 2:] += jit * old[:, :-2]
        starts = self._lane_starts
        new[:, starts] = jit * old[:, starts] + core[:, lay.i0 : lay.i0 + lay.bins] @ self.entry
        new[:, starts + 1] = jit * old[:, starts + 1] + (1 - 2 * jit) * old[:, starts]
        return out

    def matrix(self) -> Array:
        """The dense transition matrix (row: from, column: to)."""
        return self.apply(np.eye(self.layout.size)).astype(np.float64)


@dataclass(frozen=True)
class _Rates:
    stop_end: float
    drift: float
    jitter: float
    pass_exit: list[list[tuple[int, float]]]


class MotionModel:
    """States, their distances and expected levels, the transition and the first-heard prior."""

    def __init__(self, params: TrackerParams) -> None:
        p = self.params = params
        bins = p.distance_bins
        ratio = (p.max_distance_m / p.min_distance_m) ** (1 / (bins - 1))
        self._log_ratio = math.log(ratio)
        grid = p.min_distance_m * ratio ** np.arange(bins)
        self.grid: Array = grid
        near_bins = max(1, int(np.sum(grid <= p.near_m * (1 + 1e-9))))
        gone_bins = max(near_bins, int(np.sum(grid <= p.gone_m * (1 + 1e-9))))
        stages = max(1, round(p.min_stop_s / p.frame_s))
        half = max(1, round(p.passing_window_s / p.frame_s))
        lay = self.layout = Layout(
            bins, near_bins, gone_bins, stages, p.passing_lanes * p.passing_speeds, 2 * half + 1
        )
        # one passage chain per (closest distance, speed): lanes evenly over
        # passing_nearest_m-near_m, speeds evenly over walking_speed_mps +/- its spread
        width = p.near_m - p.passing_nearest_m
        closest = p.passing_nearest_m + width * (np.arange(p.passing_lanes) + 0.5) / p.passing_lanes
        if p.passing_speeds == 1:
            speeds = np.array([p.walking_speed_mps])
        else:
            speeds = p.walking_speed_mps + p.walking_speed_spread_mps * np.linspace(
                -1, 1, p.passing_speeds
            )
        self.lanes: Array = np.repeat(closest, len(speeds))
        self.lane_speeds: Array = np.maximum(np.tile(speeds, len(closest)), 0.1)
        self.transition = self._build()
        self.distance: Array = self._distances()
        self.expected_db: Array = -10 * p.path_loss_exponent * np.log10(self.distance)
        self.extra_db2: Array = np.zeros(lay.size)
        self.extra_db2[0] = AWAY_EXTRA_DB2
        self.summary: Array = self._summary()
        self.prior: Array = self._prior()

    # -- the grid ---------------------------------------------------------------------
    def _bin_of(self, d: float) -> list[tuple[int, float]]:
        """Grid bins sharing distance `d` (linear in log distance); bin `bins` means beyond."""
        bins = self.layout.bins
        p = self.params
        if d <= p.min_distance_m:
            return [(0, 1.0)]
        f = math.log(d / p.min_distance_m) / self._log_ratio
        if f >= bins - 1:  # beyond the farthest grid distance is away
            return [(bins, 1.0)] if d > float(self.grid[-1]) * (1 + 1e-9) else [(bins - 1, 1.0)]
        lo = int(f)
        w = f - lo
        return [(lo, 1 - w), (lo + 1, w)] if w > 0 else [(lo, 1.0)]

    def _walk(self, j: int, outward: bool) -> list[tuple[int, float]]:
        """Where a walker at grid bin j is one frame later (three speeds, equally likely)."""
        p = self.params
        step = p.frame_s * (1 if outward else -1)
        speeds = (
            p.walking_speed_mps - p.walking_speed_spread_mps,
            p.walking_speed_mps,
            p.walking_speed_mps + p.walking_speed_spread_mps,
        )
        out: dict[int, float] = {}
        for v in speeds:
            for k, w in self._bin_of(float(self.grid[j]) + max(v, 0.05) * step):
                out[k] = out.get(k, 0.0) + w / len(speeds)
        return sorted(out.items())

    def _passage_start(self, lane: int) -> float:
        """How far a passer-by of this chain is when the modelled part of the passage starts."""
        p = self.params
        ahead = float(self.lane_speeds[lane]) * (self.layout.phases // 2) * p.frame_s
        return math.hypot(float(self.lanes[lane]), ahead)

    # -- building ---------------------------------------------------------------------
    def _build(self) -> Transition:
        p, lay = self.params, self.layout
        fr = p.frame_s
        nbins, nb = lay.bins, lay.near_bins
        core = np.zeros((lay.core, lay.core))
        away = 0
        arrive = _per_frame(p.arrival_rate_per_s, fr)
        core[away, away] = 1 - arrive
        core[away, lay.i0 + nbins - 1] = arrive
        stop_near = _per_frame(p.stop_rate_per_s, fr)
        stop_far = _per_frame(p.linger_rate_per_s, fr)
        turn = _per_frame(p.turn_rate_per_s, fr)
        # passers-by leave the radial walk where their straight line is passing_window_s away
        entry = np.zeros((nbins, lay.lanes))
        speed_bins = [
            self._bin_width(j) / max(p.walking_speed_mps * fr, 1e-9) for j in range(nbins)
        ]
        for lane_i in range(lay.lanes):
            for j, w in self._bin_of(self._passage_start(lane_i)):
                if j < nbins:
                    frames_in_bin = max(1.0, speed_bins[j])
                    entry[j, lane_i] += p.passing_share * w / lay.lanes / frames_in_bin
        stop_in = np.zeros(nb)
        for j in range(nbins):
            i = lay.i0 + j
            rest = 1.0 - float(entry[j].sum())
            hs = stop_near if j < nb else stop_far
            ht = turn
            if j == 0:  # the nearest bin: nowhere closer to walk
                hs, ht = rest * hs / (hs + ht), rest * ht / (hs + ht)
            if j < nb:
                stop_in[j] = hs
            else:
                core[i, lay.l0 + j - nb] += hs
            core[i, lay.on0 + j] += ht
            rest -= hs + ht
            for k, w in self._walk(j, outward=False):
                core[i, lay.i0 + min(k, nbins - 1)] += rest * w
        drift = _per_frame(p.stop_drift_per_s, fr) / 2
        linger_end = _per_frame(1 / p.linger_mean_s, fr)
        far = nbins - nb
        for j in range(far):
            i = lay.l0 + j
            for k, w in ((j, 1 - 2 * drift), (max(0, j - 1), drift), (min(far - 1, j + 1), drift)):
                core[i, lay.l0 + k] += (1 - linger_end) * w
            core[i, lay.on0 + nb + j] += linger_end
        for start, count, labelled in ((lay.ov0, lay.gone_bins, True), (lay.on0, nbins, False)):
            for j in range(count):
                for k, w in self._walk(j, outward=True):
                    if k >= nbins:
                        core[start + j, away] += w
                    elif labelled and k >= lay.gone_bins:
                        core[start + j, lay.on0 + k] += w  # gone: the visit label is dropped
                    else:
                        core[start + j, start + k] += w
        pass_exit = []
        for lane_i in range(lay.lanes):
            exits = [(min(j, nbins - 1), w) for j, w in self._bin_of(self._passage_start(lane_i))]
            pass_exit.append(exits)
        # a passer-by's pace varies a little within a chain's speed: a frame behind or ahead
        step = p.walking_speed_spread_mps / p.passing_speeds
        jitter = min(0.3, 0.5 * step / p.walking_speed_mps)
        rates = _Rates(_per_frame(1 / p.stop_mean_s, fr), drift, jitter, pass_exit)
        return Transition(lay, core, stop_in, entry, rates)

    def _bin_width(self, j: int) -> float:
        """The width in metres of grid bin j (half-way to each neighbour)."""
        g = self.grid
        lo = g[j] / math.sqrt(math.exp(self._log_ratio))
        hi = g[j] * math.sqrt(math.exp(self._log_ratio))
        return float(hi - lo)

    def _distances(self) -> Array:
        lay, p = self.layout, self.params
        d = np.empty(lay.size)
        d[0] = 1.5 * p.max_distance_m
        d[lay.i0 : lay.i0 + lay.bins] = self.grid
        d[lay.l0 : lay.ov0] = self.grid[lay.near_bins :]
        d[lay.ov0 : lay.on0] = self.grid[: lay.gone_bins]
        d[lay.on0 : lay.core] = self.grid
        d[lay.s0 : lay.x0] = np.tile(self.grid[: lay.near_bins], lay.stages + 1)
        half = lay.phases // 2
        t = (np.arange(lay.phases) - half) * p.frame_s
        along = self.lane_speeds[:, None] * t[None, :]
        d[lay.x0 :] = np.hypot(self.lanes[:, None], along).ravel()
        return d

    def inside(self, limit_m: float) -> Array:
        """Each state's share within `limit_m`: a grid state stands for the distances half a
        step either side of it (in log distance) and counts by the share of them inside; a
        passage state's distance is exact."""
        lay = self.layout
        d = self.distance
        share: Array = np.clip((math.log(limit_m) - np.log(d)) / self._log_ratio + 0.5, 0.0, 1.0)
        share[lay.x0 :] = d[lay.x0 :] <= limit_m
        share[0] = 0.0
        return share

    def _summary(self) -> Array:
        """states x 5: share of near, within exit, immediate, trigger, visit."""
        lay, p = self.layout, self.params
        m = np.zeros((lay.size, 5))
        m[:, NEAR] = self.inside(p.near_m)
        m[:, WITHIN_EXIT] = self.inside(p.exit_m)
        m[:, IMMEDIATE] = self.inside(p.immediate_m)
        m[:, TRIGGER] = m[:, NEAR]
        m[lay.x0 :, TRIGGER] = 0.0  # a passer-by is near, but not who the screen is for
        last = lay.s0 + lay.stages * lay.near_bins
        m[last : lay.x0, VISIT] = 1.0
        m[lay.ov0 : lay.on0, VISIT] = 1.0
        return m

    def _prior(self) -> Array:
        """Where a beacon heard for the first time is: arriving from afar, or anywhere.

        "Anywhere" leaves out what only watching can tell: a stop already under way
        (a stop starts at its first stage) and the visit label (out_v)."""
        lay, p = self.layout, self.params
        arriving = np.zeros(lay.size)
        arriving[0] = 0.5
        far = min(4, lay.bins)
        arriving[lay.i0 + lay.bins - far : lay.i0 + lay.bins] = 0.5 / far
        anywhere = np.ones(lay.size)
        anywhere[lay.ov0 : lay.on0] = 0.0
        anywhere[lay.s0 + lay.near_bins : lay.x0] = 0.0  # stops: the first stage only
        anywhere /= anywhere.sum()
        prior: Array = (1 - p.first_heard_anywhere) * arriving + p.first_heard_anywhere * anywhere
        return prior

    def describe(self, state: int) -> str:
        """A state's name, for tests and debugging: `stop(1.35 m, 4)`, `pass(0.75 m, 3)`."""
        lay = self.layout
        d = self.distance[state]
        if state == 0:
            return "away"
        for start, end, name in (
            (lay.i0, lay.l0, "in"),
            (lay.l0, lay.ov0, "linger"),
            (lay.ov0, lay.on0, "out_v"),
            (lay.on0, lay.core, "out"),
        ):
            if start <= state < end:
                return f"{name}({d:.2f} m)"
        if state < lay.x0:
            stage = (state - lay.s0) // lay.near_bins
            return f"stop({d:.2f} m, {stage})"
        lane, phase = divmod(state - lay.x0, lay.phases)
        return f"pass({self.lanes[lane]:.2f} m, {self.lane_speeds[lane]:.2f} m/s, {phase})"
