"""Presence tracking: decoded beacons + RSSI in, two streams of events out. Pure.

The model (edge/presence/model.py) and its filter (edge/presence/filterbank.py)
give, for every beacon in view and every frame (`frame_s`), the probability
that its carrier is within `near_m`, within `exit_m`, near and not merely
passing by, and that it has stopped within `near_m` for `min_stop_s` (or has
left after such a stop). Two decisions read those numbers:

- the trigger (`approach.*`): enters once P(near, not passing by) reaches
  `trigger_probability`; ends once P(within exit_m) falls below
  `trigger_release_probability`. Fast, and a passer-by may set it off;
- the visit (`visit.*`), decided on the whole track. A track opens when
  the carrier is more likely near than not and ends once P(within exit_m)
  falls below `track_end_probability` (or the beacon goes silent). The visit
  label stays in the state while the carrier walks away (until `gone_m`,
  beyond the track's end), so P(visit) at the track's end is the posterior
  that the whole track held a qualifying stop: the smoothed answer, with the
  departure's evidence in it. A visit is counted either during the track,
  once P(visit) reaches `visit_probability` (confident early: the long
  stays), or at the track's end if P(visit) is then at least
  `visit_end_probability` (the short stays: `visit.enter` and `visit.exit`
  together, a few seconds after the person left). `visit.enter` carries
  `since`, the estimated start of the stay; a visit counted during its track
  ends once P(within exit_m) falls below `visit_release_probability`.
  A new visit of the same beacon needs P(visit) to have fallen below
  `visit_rearm_probability` first: one stay, one visit.

A beacon unheard for `absence_timeout_s` ends whatever is open and is
forgotten, so memory is bounded by the beacons heard in that time.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np

from edge.presence.decode import Beacon
from edge.presence.events import (
    APPROACH_ENTER,
    APPROACH_EXIT,
    VISIT_DWELL,
    VISIT_ENTER,
    VISIT_EXIT,
    PresenceEvent,
)
from edge.presence.filterbank import FilterBank
from edge.presence.model import IMMEDIATE, LEVEL, NEAR, TRIGGER, VISIT, WITHIN_EXIT, MotionModel
from edge.presence.params import TrackerParams

__all__ = [
    "DEFAULT_TX_POWER_1M",
    "ZONE_RANK",
    "PresenceEvent",
    "Tracker",
    "TrackerParams",
    "distance_m",
    "level_at",
]

DEFAULT_TX_POWER_1M = -59
ZONE_RANK: dict[str, int] = {"far": 0, "near": 1, "immediate": 2}
HALF = 0.5  # a zone is where the carrier more likely is than not
NEAR_RESET = 0.2  # below this P(near), with nothing open, the stay's start is forgotten


def distance_m(
    rssi: float, tx_power_1m: int | None, exponent: float, loss_db: float = 0.0
) -> float:
    """Log-distance path loss estimate in metres (`loss_db` absorbed on the way)."""
    power = DEFAULT_TX_POWER_1M if tx_power_1m is None else tx_power_1m
    return float(10 ** ((power - loss_db - rssi) / (10 * exponent)))


def level_at(distance: float, params: TrackerParams) -> float:
    """The level (dB from the advertised 1 m power) of a typical beacon at `distance`."""
    return -params.body_loss_db - 10 * params.path_loss_exponent * math.log10(distance)


@dataclass(slots=True)
class _Beacon:
    identity: str
    row: int
    power_1m: int
    heard: float  # time of the last advert
    count: int = 0  # adverts in the open frame ...
    total: float = 0.0  # ... and the sum of their levels
    approach_id: str | None = None  # the open trigger's visit id ...
    approach_since: float = 0.0  # ... and when it began
    visit_id: str | None = None  # the open visit's id
    pending_id: str | None = None  # id of the latest trigger that is not (yet) a visit
    armed: bool = True  # a new visit may start
    near_since: float | None = None  # when the carrier came within near_m this time
    track: bool = False  # a track is open: came near, not yet judged (see the module doc)
    closest: str = "near"  # closest zone since then
    last_near: float = 0.0  # last frame within exit_m
    since: float = 0.0  # the open visit's start
    last_dwell: float = 0.0


@dataclass
class Tracker:
    params: TrackerParams
    new_visit_id: Callable[[], str]
    _beacons: dict[str, _Beacon] = field(default_factory=dict)
    _rows: list[_Beacon] = field(default_factory=list)
    _frame_end: float | None = None

    def __post_init__(self) -> None:
        self.model = MotionModel(self.params)
        self.bank = FilterBank(self.model)

    # -- input ------------------------------------------------------------------------
    def observe(self, beacon: Beacon, rssi: int, now: float) -> list[PresenceEvent]:
        """Feed one advert of `beacon`; returns the events due by `now` (any beacon's)."""
        events = self.tick(now)
        power = DEFAULT_TX_POWER_1M if beacon.tx_power_1m is None else beacon.tx_power_1m
        b = self._beacons.get(beacon.identity)
        if b is None:
            b = _Beacon(beacon.identity, self.bank.add(), power, now)
            self._beacons[beacon.identity] = b
            self._rows.append(b)
        b.count += 1
        b.total += rssi - power
        b.heard = now
        b.power_1m = power
        return events

    def tick(self, now: float) -> list[PresenceEvent]:
        """Time passes: run every frame that ended by `now`; returns the events they cause."""
        frame = self.params.frame_s
        if self._frame_end is None:
            self._frame_end = (math.floor(now / frame) + 1) * frame
        events: list[PresenceEvent] = []
        while self._frame_end <= now:
            if not self._rows:  # nothing to filter: jump to the frame holding `now`
                self._frame_end = (math.floor(now / frame) + 1) * frame
                break
            events += self._frame(self._frame_end, now)
            self._frame_end += frame
        return events

    def close_all(self, now: float) -> list[PresenceEvent]:
        """End every open trigger and visit (the trace ended, the daemon is stopping)."""
        events: list[PresenceEvent] = []
        visits = self.bank.summary()[:, VISIT].tolist() if self._rows else []
        for b, visit in zip(self._rows, visits, strict=True):
            events += self._close(b, visit, now)
        return events

    def forget(self, which: Callable[[str], bool]) -> int:
        """Drop the state of every identity `which` picks (a purge), without an exit event:
        nothing more is recorded about that visit. Returns how many were dropped."""
        gone = [b for b in self._rows if which(b.identity)]
        for b in gone:
            self._drop(b)
        return len(gone)

    @property
    def visitors_present(self) -> int:
        """Beacons with an open trigger or visit."""
        return sum(1 for b in self._rows if b.approach_id or b.visit_id)

    @property
    def beacons(self) -> int:
        """Beacons the filter holds (heard within absence_timeout_s)."""
        return len(self._rows)

    # -- one frame --------------------------------------------------------------------
    def _frame(self, end: float, now: float) -> list[PresenceEvent]:
        rows = self._rows
        counts = np.fromiter((b.count for b in rows), float, len(rows))
        totals = np.fromiter((b.total for b in rows), float, len(rows))
        for b in rows:
            b.count, b.total = 0, 0.0
        self.bank.step(counts, totals)
        events: list[PresenceEvent] = []
        timeout = self.params.absence_timeout_s
        gone: list[_Beacon] = []
        for b, probs in zip(rows, self.bank.summary().tolist(), strict=True):
            if end - b.heard >= timeout:
                events += self._close(b, probs[VISIT], now)
                gone.append(b)
            else:
                events += self._decide(b, probs, end, now)
        for b in gone:
            self._drop(b)
        return events

    def _decide(
        self, b: _Beacon, probs: list[float], end: float, now: float
    ) -> list[PresenceEvent]:
        p = self.params
        near, within, trigger, visit = probs[NEAR], probs[WITHIN_EXIT], probs[TRIGGER], probs[VISIT]
        idle = (
            b.approach_id is None
            and b.visit_id is None
            and b.pending_id is None
            and b.armed
            and not b.track
        )
        if idle and near < NEAR_RESET and trigger < p.trigger_probability:
            b.near_since = None  # far from anything: nothing to decide (most beacons, most frames)
            return []
        zone = "immediate" if probs[IMMEDIATE] >= HALF else "near"
        rssi = round(probs[LEVEL] + b.power_1m)
        if near >= HALF:
            b.track = True
            if b.near_since is None:
                b.near_since, b.closest = end, zone
            elif ZONE_RANK[zone] > ZONE_RANK[b.closest]:
                b.closest = zone
        if within >= HALF:
            b.last_near = b.heard  # to the last advert, not through a silence
        events: list[PresenceEvent] = []
        if b.approach_id is None:
            if trigger >= p.trigger_probability:
                vid = b.visit_id or b.pending_id or self.new_visit_id()
                if b.visit_id is None:
                    b.pending_id = vid
                b.approach_id, b.approach_since = vid, end
                events.append(PresenceEvent(APPROACH_ENTER, b.identity, vid, zone, rssi, now, end))
        elif within < p.trigger_release_probability:
            events.append(self._approach_exit(b, zone, rssi, now))
        if b.visit_id is None:
            if b.armed and visit >= p.visit_probability:
                events.append(self._visit_enter(b, rssi, end, now))
            elif b.track and within < p.track_end_probability:
                events += self._judge_track(b, visit, rssi, end, now)
        elif within < p.visit_release_probability:
            b.track = False
            events.append(self._visit_exit(b, rssi, now))
        elif end - b.last_dwell >= p.dwell_interval_s:
            b.last_dwell = end
            events.append(
                PresenceEvent(VISIT_DWELL, b.identity, b.visit_id, b.closest, rssi, now, b.since)
            )
        if visit < p.visit_rearm_probability:
            b.armed = True
            if b.approach_id is None and b.visit_id is None:
                b.pending_id = None  # that trigger was not a visit, and will not become one
        if b.approach_id is None and b.visit_id is None and not b.track and near < NEAR_RESET:
            b.near_since = None
        return events

    def _judge_track(
        self, b: _Beacon, visit: float, rssi: int, end: float, now: float
    ) -> list[PresenceEvent]:
        """The track ended without a visit counted: count it now if its whole evidence says a
        qualifying stop happened (`visit.enter` and `visit.exit` at once), else let it go."""
        b.track = False
        if not (b.armed and visit >= self.params.visit_end_probability):
            return []
        enter = self._visit_enter(b, rssi, end, now)
        return [enter, self._visit_exit(b, rssi, now)]

    def _visit_enter(self, b: _Beacon, rssi: int, end: float, now: float) -> PresenceEvent:
        vid = b.pending_id or self.new_visit_id()
        b.visit_id, b.pending_id, b.armed = vid, None, False
        if b.near_since is None:  # confident of a stop, never more likely near than not
            b.since, b.closest = end - self.params.min_stop_s, "near"
        else:
            b.since = b.near_since
        b.last_dwell = end
        b.last_near = max(b.last_near, b.since)
        return PresenceEvent(VISIT_ENTER, b.identity, vid, b.closest, rssi, now, b.since)

    def _approach_exit(self, b: _Beacon, zone: str, rssi: int, now: float) -> PresenceEvent:
        assert b.approach_id is not None
        event = PresenceEvent(
            APPROACH_EXIT, b.identity, b.approach_id, zone, rssi, now, b.approach_since
        )
        b.approach_id = None
        return event

    def _visit_exit(self, b: _Beacon, rssi: int, now: float) -> PresenceEvent:
        assert b.visit_id is not None
        dwell = round(max(0.0, b.last_near - b.since) * 1000)
        event = PresenceEvent(
            VISIT_EXIT, b.identity, b.visit_id, b.closest, rssi, now, b.since, dwell
        )
        b.visit_id = None
        return event

    def _close(self, b: _Beacon, visit: float, now: float) -> list[PresenceEvent]:
        """End b's open trigger and visit, and judge its open track (silence, or the end of
        the run); `visit` is b's P(visit) now."""
        rssi = round(self.bank.level_db(b.row) + b.power_1m)
        events: list[PresenceEvent] = []
        if b.approach_id is not None:
            events.append(self._approach_exit(b, b.closest, rssi, now))
        if b.visit_id is not None:
            b.track = False
            events.append(self._visit_exit(b, rssi, now))
        elif b.track:
            events += self._judge_track(b, visit, rssi, now, now)
        return events

    def _drop(self, b: _Beacon) -> None:
        moved = self.bank.remove(b.row)
        last = self._rows.pop()
        if moved != b.row:
            self._rows[b.row] = last
            last.row = b.row
        del self._beacons[b.identity]
