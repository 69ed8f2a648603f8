"""Adverts in, beacons and presence events out: decode + track + tick on one clock. Pure.

Ticks are driven by advert time as well as by the caller's timer, so a replay
running far faster than real time still checks absences at the right trace
times, exactly as a live scanner would.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

from edge.presence.advert import Advert
from edge.presence.decode import Beacon, BeaconDecoder
from edge.presence.tracker import PresenceEvent, Tracker, TrackerParams


@dataclass
class PresencePipeline:
    params: TrackerParams
    new_visit_id: Callable[[], str]
    decoder: BeaconDecoder = field(default_factory=BeaconDecoder)
    tick_s: float = 0.25
    adverts: int = 0
    beacons: int = 0
    tracker: Tracker = field(init=False)
    _next_tick: float | None = None

    def __post_init__(self) -> None:
        self.tracker = Tracker(self.params, self.new_visit_id)

    def feed(self, advert: Advert) -> tuple[Beacon | None, list[PresenceEvent]]:
        """Ticks due before this advert, then the advert itself."""
        self.adverts += 1
        events = self.tick(advert.t) if self._due(advert.t) else []
        beacon = self.decoder.decode(advert.manufacturer_data, advert.service_data)
        if beacon is not None:
            self.beacons += 1
            events += self.tracker.observe(beacon, advert.rssi, advert.t)
        return beacon, events

    def _due(self, now: float) -> bool:
        return self._next_tick is None or now >= self._next_tick

    def tick(self, now: float) -> list[PresenceEvent]:
        """Run the tracker's clock up to `now` (a no-op if ticked recently)."""
        if not self._due(now):
            return []
        self._next_tick = now + self.tick_s
        return self.tracker.tick(now)

    def close(self, now: float) -> list[PresenceEvent]:
        """End every open visit (end of trace, daemon stopping)."""
        return self.tracker.tick(now) + self.tracker.close_all(now)
