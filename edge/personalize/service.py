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

import asyncio
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field

from edge.content.player import Personal
from edge.content.slides import Slide
from edge.ids import new_id, short_visitor
from edge.link.decide import Decider
from edge.link.schemas import Decision

log = logging.getLogger(__name__)
OFFLINE_SHOW_MS = 8000


@dataclass
class DecisionCache:
    """Decisions kept for their `ttl_ms`. Pure: `now` (seconds) passed in."""

    _kept: dict[str, tuple[float, Decision]] = field(default_factory=dict)

    def remember(self, visitor: str, decision: Decision, now: float) -> None:
        if decision.ttl_ms > 0:
            self._kept[visitor] = (now + decision.ttl_ms / 1000, decision)
        if len(self._kept) > 4096:
            self._kept = {v: kd for v, kd in self._kept.items() if kd[0] > now}

    def get(self, visitor: str, now: float) -> Decision | None:
        kept = self._kept.get(visitor)
        if kept is None or kept[0] <= now:
            self._kept.pop(visitor, None)
            return None
        return kept[1]

    def forget(self, visitor: str) -> None:
        self._kept.pop(visitor, None)

    def prune(self, now: float) -> None:
        """Drop decisions past their ttl (they would not be used; they still name someone)."""
        self._kept = {v: kd for v, kd in self._kept.items() if kd[0] > now}


@dataclass
class Cooldown:
    """At most one request per visitor per `seconds`. Pure: `now` passed in."""

    seconds: float
    _last: dict[str, float] = field(default_factory=dict)

    def allow(self, visitor: str, now: float) -> bool:
        last = self._last.get(visitor)
        if last is not None and now - last < self.seconds:
            return False
        self._last[visitor] = now
        if len(self._last) > 4096:
            self.prune(now)
        return True

    def prune(self, now: float) -> None:
        self._last = {v: t for v, t in self._last.items() if now - t < self.seconds}

    def forget(self, visitor: str) -> None:
        self._last.pop(visitor, None)


@dataclass
class PersonalizeStats:
    requested: int = 0
    decisions: int = 0
    reused: int = 0
    cooled_down: int = 0
    over_capacity: int = 0
    no_consent: int = 0
    offline_offers: int = 0


class Personalizer:
    def __init__(
        self,
        decider: Decider | None,
        *,
        show: Callable[[Personal], None],
        offer: Callable[[str], Slide | None],
        cooldown_s: float,
        max_in_flight: int,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._decider = decider
        self._show = show
        self._offer = offer
        self._cooldown = Cooldown(cooldown_s)
        self._cache = DecisionCache()
        self._max_in_flight = max_in_flight
        self._clock = clock
        self.in_flight = 0
        self.stats = PersonalizeStats()

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
            self._present(recorded, cached, 0.0, reused=True)
            return
        if self._decider is None:
            return
        if self.in_flight >= self._max_in_flight:
            self.stats.over_capacity += 1
            return
        self.in_flight += 1
        self.stats.requested += 1
        task = asyncio.get_running_loop().create_task(
            self._ask(visitor, visit_id, trigger, zone, recorded)
        )
        task.add_done_callback(lambda _t: self._done())

    def _done(self) -> None:
        self.in_flight -= 1

    async def _ask(
        self, visitor: str, visit_id: str, trigger: str, zone: str, recorded: str | None
    ) -> None:
        assert self._decider is not None
        started = time.perf_counter()
        try:
            decision = await self._decider.ask(visitor, visit_id, trigger, zone)
        except Exception:  # a broken link must not go unnoticed, nor stop the next visitor
            log.exception("decide request for %s failed", short_visitor(visitor))
            return
        if decision is None:
            return
        self._cache.remember(visitor, decision, self._clock())
        self._present(recorded, decision, (time.perf_counter() - started) * 1000)

    def _present(
        self, visitor: str | None, decision: Decision, took_ms: float, reused: bool = False
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
                )
            )
