"""Presence in the daemon: adverts from the source, through the pure pipeline, to events.

Every event of both streams is recorded (pseudonymised where the store asks
for it), with the fields edge/presence/events.py lists. The fast trigger
(`approach.enter`) hands the visitor to personalisation, which asks central
for a decision; the counted visit (`visit.*`) only goes to the outbox. The
source's adverts and the tracker's clock are two tasks; a source that fails
is restarted by the supervisor, and the screen plays on meanwhile.
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
import time
from collections.abc import Callable
from typing import Any

from edge.errors import EdgeError
from edge.ids import new_id, short_visitor
from edge.presence.advert import AdvertSource
from edge.presence.allow import AllowList
from edge.presence.decode import BeaconDecoder
from edge.presence.events import (
    APPROACH_ENTER,
    APPROACH_EXIT,
    VISIT_ENTER,
    VISIT_EXIT,
    outbox_fields,
)
from edge.presence.pipeline import PresencePipeline
from edge.presence.pseudonym import Pseudonymizer
from edge.presence.tracker import PresenceEvent, TrackerParams
from edge.runtime.service import Figures, Service
from edge.runtime.supervisor import Task

log = logging.getLogger(__name__)

Record = Callable[[str, dict[str, Any]], None]
OnApproach = Callable[[str, str, str], None]  # visitor (public form), visit id, zone
OnExit = Callable[[str], None]  # visit id


class PresenceService(Service):
    name = "presence"

    def __init__(
        self,
        source: AdvertSource,
        params: TrackerParams,
        allow: AllowList,
        *,
        record: Record,
        on_approach: OnApproach,
        pseudonyms: Callable[[], Pseudonymizer],
        on_exit: OnExit = lambda _visit_id: None,
    ) -> None:
        self.source = source
        self.pipeline = PresencePipeline(params, new_id, BeaconDecoder(allow))
        self._record = record
        self._on_approach = on_approach
        self._on_exit = on_exit
        self._open_visits: set[str] = set()  # an approach ending inside one is not a departure
        self._pseudonyms = pseudonyms
        self.adverts = 0
        self.visitors: set[str] = set()
        """Public forms of every visitor seen this run (the demo's summary)."""

    def tasks(self) -> list[Task]:
        return [Task("presence", self._presence), Task("ticks", self._ticks)]

    async def _presence(self) -> None:
        try:
            async for advert in self.source.adverts():
                self.adverts += 1
                _beacon, events = self.pipeline.feed(advert)
                if events:
                    self.record(events)
        except (OSError, EdgeError) as exc:
            log.error("advert source stopped: %s; the screen keeps playing", exc)

    async def _ticks(self) -> None:
        while True:
            await asyncio.sleep(self.pipeline.tick_s)
            events = self.pipeline.tick(self.source.now())
            if events:
                self.record(events)

    def close(self) -> None:
        """End every open visit (the daemon is stopping)."""
        self.record(self.pipeline.close(self.source.now()))

    def record(self, events: list[PresenceEvent]) -> None:
        pseudonyms = self._pseudonyms()
        for ev in events:
            visitor = pseudonyms.public(ev.visitor)
            # tracker time runs on the source's clock; `since` goes onto the wall clock
            now_ms = int(time.time() * 1000) - round((self.source.now() - ev.t) * 1000)
            self._record(ev.type, outbox_fields(ev, visitor, now_ms))
            if ev.type == APPROACH_ENTER:
                self.visitors.add(visitor)
                log.info("visitor approached: %s (%s)", short_visitor(visitor), ev.zone)
                self._on_approach(visitor, ev.visit_id, ev.zone)
            elif ev.type == APPROACH_EXIT and ev.visit_id not in self._open_visits:
                self._on_exit(ev.visit_id)  # walked away without stopping: gone too
            elif ev.type == VISIT_ENTER:
                self._open_visits.add(ev.visit_id)
                log.info(
                    "visitor entered: %s (%s, stay began %.0f s ago)",
                    short_visitor(visitor),
                    ev.zone,
                    ev.t - ev.since,
                )
            elif ev.type == VISIT_EXIT:
                log.info(
                    "visitor left: %s after %.0f s",
                    short_visitor(visitor),
                    (ev.dwell_ms or 0) / 1000,
                )
                self._open_visits.discard(ev.visit_id)
                self._on_exit(ev.visit_id)

    def reconfigure(self, params: TrackerParams, allow: AllowList) -> None:
        """New tracker parameters and allow-list, live (a remote config overlay): adverts
        from now on are judged by them; the decoder's counters carry on."""
        pipeline = self.pipeline
        if pipeline.decoder.allow != allow:
            decoder = BeaconDecoder(allow)
            decoder.counters = pipeline.decoder.counters
            pipeline.decoder = decoder
        if pipeline.params != params:  # the same tracks, judged by the new thresholds
            pipeline.params = params
            pipeline.tracker = dataclasses.replace(pipeline.tracker, params=params)

    def forget(self, forms: frozenset[str]) -> int:
        """A purged visitor leaves the tracker (no exit event); how many states went."""
        named = self._pseudonyms().forms
        self.visitors -= forms
        return self.pipeline.tracker.forget(lambda identity: bool(forms & named(identity)))

    def health(self) -> Figures:
        figures: dict[str, int | float | str] = {
            "adverts": self.adverts,
            "visitors_present": self.pipeline.tracker.visitors_present,
            "beacons_tracked": self.pipeline.tracker.beacons,
        }
        figures.update({f"decode_{k}": v for k, v in self.pipeline.decoder.counters.items()})
        figures.update({f"scanner_{k}": v for k, v in self.source.health().items()})
        return figures
