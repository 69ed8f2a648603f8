"""Personalizer, DecisionCache and Cooldown: pure logic, no broker, no screen.

The Personalizer asks a Decider-like object (anything with `online` and an
async `ask`), so a fake one here stands in for the MQTT request/response.
"""

from __future__ import annotations

import asyncio
import itertools
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any, cast

import pytest
from hypothesis import given
from hypothesis import strategies as st

from edge.content.player import Personal
from edge.content.slides import Slide, make_slide
from edge.link.decide import Decider
from edge.link.schemas import Decision
from edge.personalize.decisions import Cooldown, DecisionCache
from edge.personalize.personalizer import OFFLINE_SHOW_MS, Personalizer

COUPON = make_slide(id="coupon-a-123456", kind="coupon", title="Welcome", code="OMO-123456")
GOLD = make_slide(id="gold-offer", kind="coupon", title="Gold members", code="GOLD-1")


def decision(
    visitor: str, *, ttl_ms: int = 60_000, show_ms: int = 5000, slide: Slide | None = COUPON
) -> Decision:
    return Decision(
        request_id=f"req-{visitor}",
        visitor=visitor,
        show_ms=show_ms,
        ttl_ms=ttl_ms,
        slide=slide,
        content_id=slide.id if slide else "",
        campaign_id="camp" if slide else None,
        variant="A" if slide else None,
    )


# -- DecisionCache -------------------------------------------------------------------


def test_cache_reuses_a_decision_within_its_ttl_and_not_after() -> None:
    cache = DecisionCache()
    d = decision("v1", ttl_ms=2000)
    cache.remember("v1", d, now=100.0)
    assert cache.get("v1", 100.0) is d
    assert cache.get("v1", 101.999) is d
    assert cache.get("v1", 102.0) is None, "still reused at the end of its ttl"
    assert cache.get("v1", 101.0) is None, "an expired decision came back"


def test_cache_keeps_nothing_with_a_zero_ttl_and_keeps_visitors_apart() -> None:
    cache = DecisionCache()
    cache.remember("v1", decision("v1", ttl_ms=0), now=0.0)
    assert cache.get("v1", 0.0) is None
    cache.remember("v2", decision("v2"), now=0.0)
    assert cache.get("v1", 1.0) is None
    assert cache.get("v2", 1.0) is not None
    cache.forget("v2")
    assert cache.get("v2", 1.0) is None


def test_cache_memory_stays_bounded_by_dropping_expired_decisions() -> None:
    cache = DecisionCache()
    for i in range(5000):
        cache.remember(f"v{i}", decision(f"v{i}", ttl_ms=1000), now=float(i))
    assert len(cache._kept) <= 4097


@given(
    ttl_ms=st.integers(1, 10**7),
    at=st.floats(0, 10**6, allow_nan=False),
    later=st.floats(0, 2 * 10**4, allow_nan=False),
)
def test_cache_property_reused_exactly_while_younger_than_ttl(
    ttl_ms: int, at: float, later: float
) -> None:
    cache = DecisionCache()
    d = decision("v", ttl_ms=ttl_ms)
    cache.remember("v", d, at)
    got = cache.get("v", at + later)
    assert (got is d) == (at + later < at + ttl_ms / 1000)


# -- Cooldown ------------------------------------------------------------------------


def test_cooldown_allows_once_per_window_per_visitor() -> None:
    cd = Cooldown(30.0)
    assert cd.allow("v1", 0.0)
    assert not cd.allow("v1", 1.0)
    assert not cd.allow("v1", 29.9)
    assert cd.allow("v2", 29.9), "one visitor's cool-down held up another"
    assert cd.allow("v1", 30.0)
    assert not cd.allow("v1", 59.9), "a refused request restarted the window"
    assert cd.allow("v1", 60.0)


def test_cooldown_of_zero_allows_every_time() -> None:
    cd = Cooldown(0.0)
    assert all(cd.allow("v", 5.0) for _ in range(3))


@given(
    seconds=st.floats(0.1, 100),
    gaps=st.lists(st.floats(0, 50, allow_nan=False), min_size=1, max_size=40),
)
def test_cooldown_property_allowed_requests_are_a_window_apart(
    seconds: float, gaps: list[float]
) -> None:
    cd = Cooldown(seconds)
    now, allowed = 0.0, []
    for gap in gaps:
        now += gap
        if cd.allow("v", now):
            allowed.append(now)
    assert allowed and allowed[0] == gaps[0]
    assert all(b - a >= seconds for a, b in itertools.pairwise(allowed))


# -- Personalizer ----------------------------------------------------------------------


@dataclass
class FakeDecider:
    """Decider's surface: `online` and `ask`; answers come from `answers` (or wait on a gate)."""

    answers: dict[str, Decision | None] = field(default_factory=dict)
    online: bool = True
    gate: asyncio.Event | None = None
    asked: list[tuple[str, str, str, str]] = field(default_factory=list)

    async def ask(self, visitor: str, visit_id: str, trigger: str, zone: str) -> Decision | None:
        self.asked.append((visitor, visit_id, trigger, zone))
        if not self.online:
            return None
        if self.gate is not None:
            await self.gate.wait()
        return self.answers.get(visitor, decision(visitor))


@dataclass
class Rig:
    decider: FakeDecider | None
    shown: list[Personal] = field(default_factory=list)
    offers: dict[str, Slide] = field(default_factory=dict)
    now: float = 1000.0
    cooldown_s: float = 30.0
    max_in_flight: int = 8
    p: Personalizer = field(init=False)
    jobs: list[asyncio.Task[None]] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.p = Personalizer(
            cast(Decider | None, self.decider),
            show=self.shown.append,
            offer=self.offers.get,
            cooldown_s=self.cooldown_s,
            max_in_flight=self.max_in_flight,
            clock=lambda: self.now,
            submit=self._submit,
        )

    def _submit(self, job: Callable[[], Awaitable[None]]) -> None:
        async def run() -> None:
            await job()

        self.jobs.append(asyncio.get_running_loop().create_task(run()))


def run(body: Callable[[], Awaitable[None]]) -> None:
    asyncio.run(asyncio.wait_for(body(), 5))


async def settle() -> None:
    """Let the Personalizer's request tasks run to their end."""
    for _ in range(10):
        await asyncio.sleep(0)


def test_checkin_without_personalize_consent_shows_nothing_and_asks_nobody() -> None:
    async def body() -> None:
        rig = Rig(FakeDecider(), offers={"gold": GOLD})
        rig.p.checkin("v1", "visit-1", ("analytics",), segment="gold")
        rig.p.checkin("v2", "visit-2", [])
        await settle()
        assert rig.shown == []
        assert rig.decider is not None and rig.decider.asked == []
        assert rig.p.stats.no_consent == 2 and rig.p.stats.requested == 0

    run(body)


def test_offline_checkin_without_personalize_consent_gets_no_offer_either() -> None:
    async def body() -> None:
        rig = Rig(FakeDecider(online=False), offers={"gold": GOLD})
        rig.p.checkin("v1", "visit-1", ["analytics"], segment="gold")
        await settle()
        assert rig.shown == [] and rig.p.stats.offline_offers == 0

    run(body)


def test_checkin_with_consent_asks_with_trigger_checkin_and_shows_the_decision() -> None:
    async def body() -> None:
        rig = Rig(FakeDecider())
        rig.p.checkin("v1", "visit-1", ("personalize", "analytics"))
        await settle()
        assert rig.decider is not None
        assert rig.decider.asked == [("v1", "visit-1", "checkin", "immediate")]
        [shown] = rig.shown
        assert shown.slide == COUPON and shown.visitor == "v1" and shown.show_ms == 5000
        assert shown.request_id == "req-v1" and shown.campaign_id == "camp"
        assert rig.p.in_flight == 0

    run(body)


def test_a_cached_decision_is_reused_without_a_request() -> None:
    async def body() -> None:
        rig = Rig(FakeDecider(), cooldown_s=0)
        rig.p.visit("v1", "visit-1", "near")
        await settle()
        assert rig.decider is not None and len(rig.decider.asked) == 1
        rig.now += 30  # within the 60 s ttl
        rig.p.visit("v1", "visit-2", "near")
        rig.p.checkin("v1", "visit-3", ("personalize", "analytics"))
        await settle()
        assert len(rig.decider.asked) == 1, "a cached decision was asked for again"
        assert [s.slide.id for s in rig.shown] == [COUPON.id] * 3
        assert rig.p.stats.reused == 2 and rig.p.stats.requested == 1
        rig.now += 31  # past the ttl: a new request
        rig.p.visit("v1", "visit-4", "near")
        await settle()
        assert len(rig.decider.asked) == 2

    run(body)


def test_forget_drops_the_cached_decision() -> None:
    async def body() -> None:
        rig = Rig(FakeDecider(), cooldown_s=0)
        rig.p.visit("v1", "visit-1", "near")
        await settle()
        rig.p.forget("v1")
        rig.p.visit("v1", "visit-2", "near")
        await settle()
        assert rig.decider is not None and len(rig.decider.asked) == 2

    run(body)


def test_a_beacon_visitor_is_asked_for_at_most_once_per_cooldown() -> None:
    async def body() -> None:
        decider = FakeDecider(answers={"v1": decision("v1", ttl_ms=0)})
        rig = Rig(decider, cooldown_s=30)
        rig.p.visit("v1", "visit-1", "near")
        await settle()
        rig.now += 10
        rig.p.visit("v1", "visit-2", "immediate")
        await settle()
        assert len(decider.asked) == 1 and rig.p.stats.cooled_down == 1
        assert len(rig.shown) == 1
        rig.now += 20
        rig.p.visit("v1", "visit-3", "near")
        await settle()
        assert len(decider.asked) == 2

    run(body)


def test_a_checkin_is_not_held_back_by_the_beacon_cooldown() -> None:
    async def body() -> None:
        decider = FakeDecider(answers={"v1": decision("v1", ttl_ms=0)})
        rig = Rig(decider, cooldown_s=3600)
        rig.p.visit("v1", "visit-1", "near")
        rig.p.checkin("v1", "visit-2", ("personalize",))
        await settle()
        assert [a[2] for a in decider.asked] == ["beacon", "checkin"]

    run(body)


def test_max_in_flight_is_respected_and_freed_when_answers_come() -> None:
    async def body() -> None:
        decider = FakeDecider(gate=asyncio.Event())
        rig = Rig(decider, max_in_flight=2)
        for i in range(5):
            rig.p.visit(f"v{i}", f"visit-{i}", "near")
        await settle()
        assert len(decider.asked) == 2 and rig.p.in_flight == 2
        assert rig.p.stats.over_capacity == 3 and rig.p.stats.requested == 2
        assert rig.shown == []
        assert decider.gate is not None
        decider.gate.set()
        await settle()
        assert rig.p.in_flight == 0 and len(rig.shown) == 2
        rig.p.visit("v9", "visit-9", "near")
        await settle()
        assert len(decider.asked) == 3 and len(rig.shown) == 3

    run(body)


def test_in_flight_is_freed_when_the_decider_fails() -> None:
    class Broken(FakeDecider):
        async def ask(self, *args: Any, **kwargs: Any) -> Decision | None:
            raise RuntimeError("boom")

    async def body() -> None:
        rig = Rig(Broken(), max_in_flight=1)
        loop = asyncio.get_running_loop()
        loop.set_exception_handler(lambda _loop, _ctx: None)  # the task's error is expected
        rig.p.visit("v1", "visit-1", "near")
        await settle()
        assert rig.p.in_flight == 0
        rig.p.visit("v2", "visit-2", "near")
        await settle()
        assert rig.p.stats.requested == 2

    run(body)


@pytest.mark.parametrize("online", [False, True])
def test_offline_checkin_with_a_segment_gets_the_offer_online_asks(online: bool) -> None:
    async def body() -> None:
        decider = FakeDecider(online=online)
        rig = Rig(decider, offers={"gold": GOLD})
        rig.p.checkin("v1", "visit-1", ("personalize",), segment="gold")
        await settle()
        [shown] = rig.shown
        if online:
            assert shown.slide == COUPON and len(decider.asked) == 1
            assert rig.p.stats.offline_offers == 0
        else:
            assert shown.slide == GOLD and shown.show_ms == OFFLINE_SHOW_MS
            assert shown.content_id == GOLD.id and shown.campaign_id is None
            assert decider.asked == [] and rig.p.stats.offline_offers == 1

    run(body)


def test_no_decider_at_all_is_offline_too() -> None:
    async def body() -> None:
        rig = Rig(None, offers={"gold": GOLD})
        rig.p.checkin("v1", "visit-1", ("personalize",), segment="gold")
        rig.p.checkin("v2", "visit-2", ("personalize",), segment="silver")
        rig.p.checkin("v3", "visit-3", ("personalize",))
        rig.p.visit("v4", "visit-4", "near")
        await settle()
        assert [s.slide for s in rig.shown] == [GOLD]
        assert rig.p.in_flight == 0 and rig.p.stats.requested == 0

    run(body)


def test_offline_with_an_unknown_segment_falls_back_to_asking_and_shows_nothing() -> None:
    async def body() -> None:
        decider = FakeDecider(online=False)
        rig = Rig(decider, offers={"gold": GOLD})
        rig.p.checkin("v1", "visit-1", ("personalize",), segment="silver")
        await settle()
        assert rig.shown == [] and rig.p.in_flight == 0

    run(body)


@pytest.mark.parametrize(
    "answer",
    [None, decision("v1", slide=None), decision("v1", show_ms=0)],
    ids=["timed-out", "nothing-personal", "zero-show-ms"],
)
def test_nothing_is_shown_without_a_slide_to_show(answer: Decision | None) -> None:
    async def body() -> None:
        rig = Rig(FakeDecider(answers={"v1": answer}))
        rig.p.visit("v1", "visit-1", "near")
        await settle()
        assert rig.shown == [] and rig.p.in_flight == 0

    run(body)


def test_a_timed_out_request_is_not_cached() -> None:
    async def body() -> None:
        decider = FakeDecider(answers={"v1": None})
        rig = Rig(decider, cooldown_s=0)
        rig.p.visit("v1", "visit-1", "near")
        await settle()
        decider.answers.pop("v1")
        rig.p.visit("v1", "visit-2", "near")
        await settle()
        assert len(decider.asked) == 2 and len(rig.shown) == 1

    run(body)


def test_checkin_without_analytics_consent_leaves_nothing_that_leads_back_to_the_visitor() -> None:
    """The decision is still shown, but its impression names nobody, carries no request id,
    and the decide request's visit id is not the check-in event's."""

    async def body() -> None:
        rig = Rig(FakeDecider())
        rig.p.checkin("v1", "visit-1", ("personalize",))
        await settle()
        assert rig.decider is not None
        [(visitor, visit_id, trigger, _zone)] = rig.decider.asked
        assert (visitor, trigger) == ("v1", "checkin") and visit_id != "visit-1"
        [shown] = rig.shown
        assert shown.slide == COUPON and shown.visitor is None and shown.request_id is None
        assert shown.campaign_id == "camp"  # still counted per campaign

    run(body)
