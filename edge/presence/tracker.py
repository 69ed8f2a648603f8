"""Presence tracking: decoded beacons + RSSI in, enter/dwell/exit events out. Pure.

The skeleton's tracker: an exponential moving average of RSSI, a log-distance
estimate from the beacon's calibrated 1 m power, zones as PROTOCOL.md names
them, a visit that starts when the smoothed distance comes within `near_m`
and ends when the beacon has not been heard within `exit_m` for
`absence_timeout_s`. The absence check runs on `tick`, so a visitor whose
phone falls silent leaves on time, not when some later advert arrives.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Literal

from edge.presence.decode import Beacon

Zone = Literal["immediate", "near", "far"]
ZONE_RANK: dict[str, int] = {"far": 0, "near": 1, "immediate": 2}
DEFAULT_TX_POWER_1M = -59


@dataclass(frozen=True, slots=True)
class TrackerParams:
    """Tuning; every field is a `[presence]` config key with the same name."""

    smoothing: float = 0.3  # EMA weight of a new RSSI sample
    path_loss_exponent: float = 2.2
    immediate_m: float = 0.5
    near_m: float = 2.5
    exit_m: float = 4.0  # hysteresis: a visit holds while within this distance
    absence_timeout_s: float = 8.0
    dwell_interval_s: float = 30.0
    forget_after_s: float = 60.0  # drop smoothing state of beacons not heard for this long


@dataclass(frozen=True, slots=True)
class PresenceEvent:
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
    smoothed: float
    last_heard: float
    visit_id: str | None = None
    zone: str = "far"
    since: float = 0.0
    last_in_range: float = 0.0
    last_dwell: float = 0.0
    last_rssi: int = 0


def distance_m(rssi: float, tx_power_1m: int | None, exponent: float) -> float:
    """Log-distance path loss estimate in metres."""
    power = DEFAULT_TX_POWER_1M if tx_power_1m is None else tx_power_1m
    return float(10 ** ((power - rssi) / (10 * exponent)))


@dataclass
class Tracker:
    params: TrackerParams
    new_visit_id: Callable[[], str]
    _tracks: dict[str, _Track] = field(default_factory=dict)

    def zone_for(self, distance: float) -> Zone:
        if distance <= self.params.immediate_m:
            return "immediate"
        if distance <= self.params.near_m:
            return "near"
        return "far"

    def observe(self, beacon: Beacon, rssi: int, now: float) -> list[PresenceEvent]:
        """Feed one advert of `beacon`; returns the events it causes (maybe none)."""
        p = self.params
        track = self._tracks.get(beacon.identity)
        if track is None:
            track = self._tracks[beacon.identity] = _Track(smoothed=float(rssi), last_heard=now)
        else:
            track.smoothed += p.smoothing * (rssi - track.smoothed)
            track.last_heard = now
        track.last_rssi = rssi
        distance = distance_m(track.smoothed, beacon.tx_power_1m, p.path_loss_exponent)
        zone = self.zone_for(distance)
        rounded = round(track.smoothed)
        if track.visit_id is None:
            if zone == "far":
                return []
            track.visit_id, track.zone, track.since = self.new_visit_id(), zone, now
            track.last_in_range = track.last_dwell = now
            return [
                PresenceEvent(
                    "visit.enter", beacon.identity, track.visit_id, zone, rounded, now, now
                )
            ]
        if distance <= p.exit_m:
            track.last_in_range = now
        if ZONE_RANK[zone] > ZONE_RANK[track.zone]:
            track.zone = zone
        return []

    def tick(self, now: float) -> list[PresenceEvent]:
        """Time passes: emit dwells and exits due by `now`, forget stale beacons."""
        p = self.params
        events: list[PresenceEvent] = []
        for visitor, track in list(self._tracks.items()):
            if track.visit_id is not None:
                if now - track.last_in_range >= p.absence_timeout_s:
                    events.append(self._end_visit(visitor, track, now))
                elif now - track.last_dwell >= p.dwell_interval_s:
                    track.last_dwell = now
                    events.append(
                        PresenceEvent(
                            "visit.dwell",
                            visitor,
                            track.visit_id,
                            track.zone,
                            round(track.smoothed),
                            now,
                            track.since,
                        )
                    )
            if track.visit_id is None and now - track.last_heard >= p.forget_after_s:
                del self._tracks[visitor]
        return events

    def close_all(self, now: float) -> list[PresenceEvent]:
        """Exit every open visit (the daemon is stopping)."""
        return [
            self._end_visit(visitor, track, now)
            for visitor, track in self._tracks.items()
            if track.visit_id is not None
        ]

    @staticmethod
    def _end_visit(visitor: str, track: _Track, now: float) -> PresenceEvent:
        assert track.visit_id is not None
        event = PresenceEvent(
            "visit.exit",
            visitor,
            track.visit_id,
            track.zone,
            round(track.smoothed),
            now,
            track.since,
            round((track.last_in_range - track.since) * 1000),
        )
        track.visit_id, track.zone = None, "far"
        # Start the average well below the last reading: a return must be earned afresh.
        track.smoothed = float(track.last_rssi) - 20.0
        return event

    @property
    def visitors_present(self) -> int:
        return sum(1 for t in self._tracks.values() if t.visit_id is not None)
