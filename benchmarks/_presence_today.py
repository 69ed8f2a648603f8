"""Today's tracker, kept as the benchmarks' yardstick: the presence tracker omo-edge shipped
before the motion model (edge/presence/model.py). Unchanged but for names, so that
benchmarks/presence_accuracy.py and benchmarks/tracker.py can run it beside the new one.
Its visit.enter is what triggered personalisation, so it is scored as both streams.

Presence tracking: decoded beacons + RSSI in, enter/dwell/exit events out. Pure.

Per beacon, a one-dimensional Kalman filter follows the received level
relative to the beacon's advertised 1 m power, so beacons of every make are
judged on one scale and the filter weighs each advert by how much it knows
already (a beacon heard ten times a second settles faster than one heard
once a second). Fast noise (about 4 dB per advert) is the measurement noise;
people walking change the level by a few dB a second, the process noise.

Deciding on that level alone either flaps or lets every passer-by in, so
both edges of a visit are sequential tests (CUSUM) on evidence in dB·s:

- enter when the evidence of being closer than `near_m` adds up to
  `enter_evidence_dbs`: someone at 1 m enters in about a second, someone
  hovering at the edge takes longer, a passer-by's brief peak rarely makes it;
- exit when the evidence of being beyond `exit_m` adds up to
  `exit_evidence_dbs`, or when the beacon has not been heard for
  `absence_timeout_s` (checked on `tick`, so a silent phone leaves on time).

`near_m` < `exit_m` is the hysteresis: a visitor standing still with a phone
in a bag wobbles by several dB without ending the visit. Distances assume
log-distance path loss and `body_loss_db` of absorption by the body or bag
that carries the beacon (0-6 dB in practice; its mean is the fairest guess).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Literal

from edge.presence.decode import Beacon

Zone = Literal["immediate", "near", "far"]
ZONE_RANK: dict[str, int] = {"far": 0, "near": 1, "immediate": 2}
DEFAULT_TX_POWER_1M = -59
OUTLIER_SIGMAS = 2.5
Rule = Callable[[float], bool]


def _tuning(default: float, allowed: str = "a positive number", check: Rule | None = None) -> Any:
    """A tuning field; its metadata makes it a `[presence]` config key (edge/config/keys.py)."""
    rule = check if check is not None else (lambda v: v > 0)
    return field(default=default, metadata={"allowed": allowed, "check": rule})


@dataclass(frozen=True, slots=True)
class TodayParams:
    """Tuning; every field is a `[presence]` config key of the same name (units in the name)."""

    path_loss_exponent: float = _tuning(2.2)  # 2 in free space, 2-3 indoors
    # typical absorption by the body or bag carrying the beacon; 0: carried in the open
    body_loss_db: float = _tuning(3.0, "a number 0-20", lambda v: 0 <= v <= 20)
    process_noise_db2_per_s: float = _tuning(4.0)  # how fast a walking person's level may change
    measurement_noise_db2: float = _tuning(25.0)  # per-advert noise (about 4-5 dB)
    immediate_m: float = _tuning(0.5)
    near_m: float = _tuning(2.5)  # a visit needs evidence of being closer than this ("near")
    exit_m: float = _tuning(3.0)  # ... and ends on evidence of being beyond this (hysteresis)
    enter_evidence_dbs: float = _tuning(8.0)  # dB·s above the near level that start a visit
    exit_evidence_dbs: float = _tuning(3.0)  # dB·s below the exit level that end it
    exit_confidence_sigmas: float = _tuning(1.0)  # ... from the estimate plus this many sigmas
    evidence_step_max_s: float = _tuning(1.0)  # one advert counts for at most this long
    absence_timeout_s: float = _tuning(5.0)  # unheard this long: the visit ends
    dwell_interval_s: float = _tuning(30.0)  # a visit.dwell this often
    forget_after_s: float = _tuning(60.0)  # drop the state of beacons unheard this long


@dataclass(frozen=True, slots=True)
class TodayEvent:
    """`visit.enter`, `visit.dwell` or `visit.exit` for one visitor at tracker time `t`."""

    type: str
    visitor: str
    visit_id: str
    zone: str
    rssi: int
    t: float
    since: float
    dwell_ms: int | None = None


@dataclass(slots=True)
class _Track:
    level: float  # Kalman estimate of RSSI minus advertised 1 m power, dB
    variance: float
    updated: float  # time of the last advert
    power_1m: int
    visit_id: str | None = None
    zone: str = "far"
    since: float = 0.0
    last_dwell: float = 0.0
    last_near: float = 0.0
    evidence: float = 0.0  # enter evidence outside a visit, exit evidence inside one


def distance_m(
    rssi: float, tx_power_1m: int | None, exponent: float, loss_db: float = 0.0
) -> float:
    """Log-distance path loss estimate in metres (`loss_db` absorbed on the way)."""
    power = DEFAULT_TX_POWER_1M if tx_power_1m is None else tx_power_1m
    return float(10 ** ((power - loss_db - rssi) / (10 * exponent)))


def level_at(distance: float, params: TodayParams) -> float:
    """The relative level (dB from the 1 m power) expected at `distance`."""
    return -params.body_loss_db - 10 * params.path_loss_exponent * math.log10(distance)


@dataclass
class TodayTracker:
    params: TodayParams
    new_visit_id: Callable[[], str]
    _tracks: dict[str, _Track] = field(default_factory=dict)

    def __post_init__(self) -> None:
        p = self.params
        self._near_level = level_at(p.near_m, p)
        self._exit_level = level_at(p.exit_m, p)
        self._immediate_level = level_at(p.immediate_m, p)

    def zone_of(self, level: float) -> Zone:
        if level >= self._immediate_level:
            return "immediate"
        if level >= self._near_level:
            return "near"
        return "far"

    def observe(self, beacon: Beacon, rssi: int, now: float) -> list[TodayEvent]:
        """Feed one advert of `beacon`; returns the events it causes (maybe none)."""
        p = self.params
        power = DEFAULT_TX_POWER_1M if beacon.tx_power_1m is None else beacon.tx_power_1m
        measured = rssi - power
        track = self._tracks.get(beacon.identity)
        if track is None:
            track = _Track(measured, p.measurement_noise_db2, now, power)
            self._tracks[beacon.identity] = track
            step = 0.0
        else:
            elapsed = max(0.0, now - track.updated)
            step = min(elapsed, p.evidence_step_max_s)
            prior = track.variance + p.process_noise_db2_per_s * elapsed
            innovation_var = prior + p.measurement_noise_db2
            gain = prior / innovation_var
            # A multipath fade can drop one advert by 20 dB; count it as a 2.5 sigma drop at
            # most, so one fade cannot end a visit. Rises are not limited: nothing fakes those,
            # and someone walking up must be seen at once.
            floor = -OUTLIER_SIGMAS * math.sqrt(innovation_var)
            track.level += gain * max(floor, measured - track.level)
            track.variance = prior * (1 - gain)
            track.updated = now
            track.power_1m = power
        level = track.level
        if track.visit_id is None:
            track.evidence = max(0.0, track.evidence + (level - self._near_level) * step)
            if track.evidence < p.enter_evidence_dbs:
                return []
            track.visit_id, track.since = self.new_visit_id(), now
            track.zone = self.zone_of(max(level, self._near_level))
            track.last_dwell = track.last_near = now
            track.evidence = 0.0
            return [self._event("visit.enter", beacon.identity, track, now)]
        if ZONE_RANK[self.zone_of(level)] > ZONE_RANK[track.zone]:
            track.zone = self.zone_of(level)
        if level >= self._exit_level:
            track.last_near = now
        # Exit on the optimistic edge of the estimate: a sparse beacon must be clearly gone.
        upper = level + p.exit_confidence_sigmas * math.sqrt(track.variance)
        track.evidence = max(0.0, track.evidence + (self._exit_level - upper) * step)
        if track.evidence >= p.exit_evidence_dbs:
            return [self._end_visit(beacon.identity, track, now)]
        return []

    def tick(self, now: float) -> list[TodayEvent]:
        """Time passes: emit dwells and exits due by `now`, forget stale beacons."""
        p = self.params
        events: list[TodayEvent] = []
        for visitor, track in list(self._tracks.items()):
            if track.visit_id is not None:
                if now - track.updated >= p.absence_timeout_s:
                    events.append(self._end_visit(visitor, track, now))
                elif now - track.last_dwell >= p.dwell_interval_s:
                    track.last_dwell = now
                    events.append(self._event("visit.dwell", visitor, track, now))
            if track.visit_id is None and now - track.updated >= p.forget_after_s:
                del self._tracks[visitor]
        return events

    def close_all(self, now: float) -> list[TodayEvent]:
        """Exit every open visit (the trace ended, the daemon is stopping)."""
        return [
            self._end_visit(visitor, track, now)
            for visitor, track in self._tracks.items()
            if track.visit_id is not None
        ]

    def _event(self, kind: str, visitor: str, track: _Track, now: float) -> TodayEvent:
        assert track.visit_id is not None
        rssi = round(track.level + track.power_1m)
        dwell_ms = round((track.last_near - track.since) * 1000) if kind == "visit.exit" else None
        return TodayEvent(
            kind, visitor, track.visit_id, track.zone, rssi, now, track.since, dwell_ms
        )

    def _end_visit(self, visitor: str, track: _Track, now: float) -> TodayEvent:
        event = self._event("visit.exit", visitor, track, now)
        track.visit_id, track.zone, track.evidence = None, "far", 0.0
        return event

    def forget(self, which: Callable[[str], bool]) -> int:
        """Drop the state of every identity `which` picks (a purge), without an exit event:
        nothing more is recorded about that visit. Returns how many were dropped."""
        gone = [identity for identity in self._tracks if which(identity)]
        for identity in gone:
            del self._tracks[identity]
        return len(gone)

    @property
    def visitors_present(self) -> int:
        return sum(1 for t in self._tracks.values() if t.visit_id is not None)
