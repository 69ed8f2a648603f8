"""Text a screen cannot draw is refused where it enters, with a reason, never drawn as boxes;
codes and prices that pass are drawn whole, at least at the smallest text size."""

from __future__ import annotations

import os

os.environ["SDL_VIDEODRIVER"] = "dummy"

import pygame
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from edge.content import legible, reasons
from edge.content.slides import make_slide
from edge.errors import ContentRejected
from edge.signage import look, text
from edge.signage.checkin_card import checkin_zone
from edge.signage.painter import paint


def test_the_check_and_the_painter_agree_on_the_smallest_text() -> None:
    assert legible.MIN_TEXT == look.MIN_TEXT


@pytest.mark.parametrize(
    ("fields", "reason", "field"),
    [
        ({"kind": "text", "title": "Sushi 🍣"}, reasons.UNSUPPORTED_GLYPH, "title"),
        (
            {"kind": "text", "body": "𠮷野家"},
            reasons.UNSUPPORTED_GLYPH,
            "body",
        ),  # not in JIS X 0208
        ({"kind": "coupon", "code": "MMMMMMMMMMMMMMMMMMMMMMMM"}, reasons.UNFITTABLE_CODE, "code"),
        (
            {
                "kind": "recommendations",
                "items": [{"name": "a", "price": "¥398"}, {"name": "b", "price": "¥" + "8" * 20}],
            },
            reasons.UNFITTABLE_CODE,
            "items[1].price",
        ),
        (
            {"kind": "ticker", "messages": ["ok", "☃︎ snow"]},
            reasons.UNSUPPORTED_GLYPH,
            "messages[1]",
        ),
    ],
)
def test_refused_with_a_reason_naming_the_field(
    fields: dict[str, object], reason: str, field: str
) -> None:
    slide = make_slide(id="s", **fields)
    found = legible.problems(slide)
    assert [(r, f) for r, f, _ in found] == [(reason, field)]
    with pytest.raises(ContentRejected) as caught:
        legible.check(slide)
    assert caught.value.reason == reason and "'s'" in caught.value.detail


def test_japanese_symbols_and_prices_a_store_uses_pass() -> None:
    slide = make_slide(
        id="ok", kind="coupon", title="あなたにおすすめ「特別」クーポン ※本日限り",
        body="会員様は全品10\uff05オフ → レジへ ①②③ ¥€$£", code="OMO-1F2E3D-2026",
    )  # fmt: skip
    assert legible.problems(slide) == []


@settings(max_examples=25, deadline=None)
@given(code=st.text(alphabet="ABCDEFGHJKLMNPQRSTUVWXYZ0123456789-Wｱ", min_size=1, max_size=30))
def test_a_code_that_passes_is_drawn_whole_and_never_below_the_smallest_size(code: str) -> None:
    slide = make_slide(id="c", kind="coupon", title="Save", code=code, qr_url="https://a.example/q",
                       image="apples.png")  # fmt: skip
    if legible.problems(slide):
        return
    pygame.font.init()  # fonts only: an initialised display would outlive the test
    fitted: list[text.Fitted] = []
    real = text.fit

    def spy(words: str, *args: object, **kw: object) -> text.Fitted:
        out = real(words, *args, **kw)  # type: ignore[arg-type]
        if words == code:
            fitted.append(out)
        return out

    for size in [(1920, 1080), (1080, 1920), (1280, 720)]:
        fitted.clear()
        text.fit = spy  # type: ignore[assignment]
        try:
            paint(pygame.Surface(size), slide, lambda _n: None, keep_clear=checkin_zone(size))
        finally:
            text.fit = real  # type: ignore[assignment]
        (done,) = fitted
        assert "".join(done.lines) == code.strip() and not done.shortened
        assert done.size >= round(look.MIN_TEXT * min(size)) - 1, (size, done.size)
