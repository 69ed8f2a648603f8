"""A decision whose slide the screen cannot draw is refused like any bad payload: never shown."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import pytest

from edge import config as config_mod
from edge.errors import PayloadRejected
from edge.link.schemas import Decision
from edge.link.session import Incoming
from edge.personalize.service import PersonalizeService

TOPIC = "omo/v1/store-1/screen-1/decision"


class Decider:
    def __init__(self) -> None:
        self.answered: list[Decision] = []

    def answer(self, decision: Decision, correlation: bytes | None) -> bool:
        self.answered.append(decision)
        return True


def deliver(slide: dict[str, Any]) -> Decider:
    cfg = config_mod.from_mapping({"device": {"store_id": "store-1", "device_id": "screen-1"}})
    service = PersonalizeService(cfg, show=lambda _p: None, offer=lambda _s: None)
    decider = Decider()
    service.decider = decider  # type: ignore[assignment]
    body = {"request_id": "r1", "visitor": "v:1", "show_ms": 6000, "ttl_ms": 30000, "slide": slide}
    asyncio.run(service._decision(Incoming(TOPIC, json.dumps(body).encode(), 1, 1, b"r1")))
    return decider


def test_a_drawable_decision_is_answered() -> None:
    slide = {"id": "c", "kind": "coupon", "title": "おかえりなさい", "code": "OMO-123"}
    assert [d.slide.id for d in deliver(slide).answered if d.slide] == ["c"]


@pytest.mark.parametrize(
    ("slide", "reason"),
    [
        ({"id": "c", "kind": "coupon", "title": "Welcome 🎉", "code": "OMO"}, "unsupported_glyph"),
        ({"id": "c", "kind": "coupon", "title": "Hi", "code": "W" * 40}, "unfittable_code"),
    ],
)
def test_an_undrawable_decision_is_refused_with_its_reason(
    slide: dict[str, Any], reason: str
) -> None:
    with pytest.raises(PayloadRejected) as caught:
        deliver(slide)
    assert caught.value.reason.startswith(f"{reason}: ")
