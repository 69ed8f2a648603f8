"""Who sees what: decide requests with a cool-down, a cache and a cap; offline offers.

- A visitor standing still does not hammer the platform: a beacon visitor
  triggers at most one request per `cooldown_s`; a decision is reused for
  its visitor within its `ttl_ms` without a round trip.
- At most `max_in_flight` requests wait at once; beyond that the playlist
  simply keeps playing (counted).
- Consent: without `personalize` nothing personal is shown. Without
  `analytics` no event can be tied to the visitor: the impression names
  nobody and carries no request_id, and the decide request gets a visit id
  of its own (the check-in event's would link the two).
- Offline (no broker): a LAN check-in whose signed token claims a segment
  gets the current manifest's offer for that segment.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable

from edge.content.player import Personal
from edge.content.slides import Slide
from edge.ids import new_id, short_visitor
from edge.link.decide import Decider
from edge.link.schemas import Decision
from edge.personalize.decisions import Cooldown, DecisionCache, PersonalizeStats
from edge.runtime.jobs import Job

log = logging.getLogger(__name__)
OFFLINE_SHOW_MS = 8000


class Personalizer:
    def __init__(
        self,
        decider: Decider | None,
        *,
        show: Callable[[Personal], None],
        offer: Callable[[str], Slide | None],
        cooldown_s: float,
        max_in_flight: int,
        submit: Callable[[Job], None],
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        """`submit` runs a decide request (in the daemon: its supervised Jobs)."""
        self._decider = decider
        self._submit = submit
        self._show = show
        self._offer = offer
        self._cooldown = Cooldown(cooldown_s)
        self._cache = DecisionCache()
        self._max_in_flight = max_in_flight
        self._clock = clock
        self.in_flight = 0
        self.stats = PersonalizeStats()

    def use(self, decider: Decider | None) -> None:
        """Ask this decider from now on (None: offline, the device's own content plays)."""
        self._decider = decider

    def visit(self, visitor: str, visit_id: str, zone: str) -> None:
        """A beacon visitor came near (member tags are issued only with consent)."""
        if not self._cooldown.allow(visitor, self._clock()):
            self.stats.cooled_down += 1
            return
        self._request(visitor, visit_id, "beacon", zone, visitor)

    def checkin(
        self,
        visitor: str,
        visit_id: str,
        consent: tuple[str, ...] | list[str],
        segment: str | None = None,
    ) -> None:
        """A phone checked in: always worth a request, unless consent says no."""
        if "personalize" not in consent:
            self.stats.no_consent += 1
            log.info(
                "check-in of %s without personalize consent: nothing personal",
                short_visitor(visitor),
            )
            return
        # Without analytics consent, the impression this leads to names nobody, and nothing
        # it carries (visit id, request id) leads back to the decide request naming them.
        recorded = visitor if "analytics" in consent else None
        if recorded is None:
            visit_id = new_id()
        offline = self._decider is None or not self._decider.online
        if offline and segment is not None:
            slide = self._offer(segment)
            if slide is not None:
                self.stats.offline_offers += 1
                log.info(
                    "offline: showing the %r segment offer to %s", segment, short_visitor(visitor)
                )
                self._show(Personal(slide, OFFLINE_SHOW_MS, None, recorded, slide.id, None, None))
                return
        self._request(visitor, visit_id, "checkin", "immediate", recorded)

    def forget(self, visitor: str) -> None:
        """Nothing about `visitor` stays in memory: its cached decision and its cool-down."""
        self._cache.forget(visitor)
        self._cooldown.forget(visitor)

    def prune(self) -> None:
        """Drop expired decisions and cool-downs (memory holds only what is still useful)."""
        now = self._clock()
        self._cache.prune(now)
        self._cooldown.prune(now)

    def _request(
        self, visitor: str, visit_id: str, trigger: str, zone: str, recorded: str | None
    ) -> None:
        cached = self._cache.get(visitor, self._clock())
        if cached is not None:
            self.stats.reused += 1
            self._present(recorded, cached, 0.0, reused=True, visit_id=visit_id)
            return
        if self._decider is None:
            return
        if self.in_flight >= self._max_in_flight:
            self.stats.over_capacity += 1
            return
        self.in_flight += 1
        self.stats.requested += 1
        decider = self._decider

        async def job() -> None:
            try:
                await self._ask(decider, (visitor, visit_id, trigger, zone), recorded)
            finally:
                self.in_flight -= 1

        self._submit(job)

    async def _ask(
        self, decider: Decider, request: tuple[str, str, str, str], recorded: str | None
    ) -> None:
        """`request`: visitor, visit id, trigger, zone (what the decide request names)."""
        visitor = request[0]
        started = time.perf_counter()
        try:
            decision = await decider.ask(*request)
        except Exception:  # a broken link must not go unnoticed, nor stop the next visitor
            log.exception("decide request for %s failed", short_visitor(visitor))
            return
        if decision is None:
            return
        self._cache.remember(visitor, decision, self._clock())
        took_ms = (time.perf_counter() - started) * 1000
        self._present(recorded, decision, took_ms, visit_id=request[1])

    def _present(
        self,
        visitor: str | None,
        decision: Decision,
        took_ms: float,
        reused: bool = False,
        *,
        visit_id: str | None = None,
    ) -> None:
        how = "reused" if reused else f"in {took_ms:.1f} ms"
        if decision.slide is None:
            log.info("decision for %s: nothing personal (%s)", short_visitor(visitor), how)
            return
        self.stats.decisions += 1
        log.info(
            "decision received for %s: %s (campaign %s, variant %s) %s",
            short_visitor(visitor),
            decision.content_id,
            decision.campaign_id,
            decision.variant,
            how,
        )
        if decision.show_ms > 0:
            self._show(
                Personal(
                    decision.slide,
                    decision.show_ms,
                    decision.request_id if visitor is not None else None,
                    visitor,
                    decision.content_id or decision.slide.id,
                    decision.campaign_id,
                    decision.variant,
                    # it may wait for fair airtime as long as central lets it be reused
                    wait_ms=decision.ttl_ms,
                    visit_id=visit_id,  # skipped if the visit ends before it is shown
                )
            )
