"""The pure parts of personalisation: a decision cache, a per-visitor cool-down, counters.

`now` is passed in (monotonic seconds), so they are tested without a clock.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from edge.link.schemas import Decision


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
