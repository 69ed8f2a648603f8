"""Whether a slide can be drawn as sent: every character in the font, codes and prices that fit.

Checked where content enters (a manifest, a decision, `omo-ops content check`),
so a slide that would show empty boxes or a code too long to read at the
smallest size is refused with a reason instead of drawn wrong:

- `unsupported_glyph`: a text uses a character the shipped font has no glyph for
  (the font covers Latin, kana, JIS X 0208 levels 1 and 2 and the usual symbols;
  emoji and rare kanji are not in it). The detail names the field and characters.
- `unfittable_code`: a coupon code or a price (never shortened, see
  edge.signage.text) is wider at the smallest text size than the narrowest room
  any layout gives it, on any screen size or orientation.

Pure and font-file based (edge.signage.glyphs reads the font's cmap and advances
in plain Python): safe on any thread, no display needed.
"""

from __future__ import annotations

from edge.content import reasons
from edge.content.slides import ProductSlide, RecommendationsSlide, Slide
from edge.errors import ContentRejected
from edge.signage import glyphs

MIN_TEXT = 0.034
"""The smallest text size as a fraction of the screen's short side (edge.signage.look)."""

REFERENCE_SHORT_SIDE = 1080
"""Widths are measured on a 1080-pixel short side; every layout scales with it."""

CODE_ROOM = 0.55
"""The narrowest room a coupon's code or a product's price gets, as a fraction of the short
side (the painter gives at least 0.576: a coupon with its QR code and a picture beside it,
on a 1080x1920 portrait screen or beside the check-in card on a landscape one)."""

TILE_PRICE_ROOM = 0.22
"""The narrowest room of a price on a recommendations tile (four tiles beside the
check-in card: 0.236 of the short side)."""


def never_shortened(slide: Slide) -> dict[str, tuple[str, float]]:
    """The texts of `slide` that are never ellipsised, by field: (text, room)."""
    found: dict[str, tuple[str, float]] = {}
    code = getattr(slide, "code", "")
    if code:
        found["code"] = (code, CODE_ROOM)
    if isinstance(slide, ProductSlide):
        found["price"] = (slide.price, CODE_ROOM)
    if isinstance(slide, RecommendationsSlide):
        for n, item in enumerate(slide.items):
            found[f"items[{n}].price"] = (item.price, TILE_PRICE_ROOM)
    return found


def problems(slide: Slide) -> list[tuple[str, str, str]]:
    """What keeps `slide` from being drawn as sent: (reason, field, detail in plain words)."""
    facts = glyphs.shipped()
    if facts is None:  # no font file to judge by: the painter will say so itself
        return []
    found: list[tuple[str, str, str]] = []
    for name, words in slide.texts().items():
        missing = facts.missing(words)
        if missing:
            found.append(
                (
                    reasons.UNSUPPORTED_GLYPH,
                    name,
                    f"{name} uses {glyphs.describe(missing)}, which the screen's font cannot "
                    "draw (it would show as empty boxes)",
                )
            )
    em = round(MIN_TEXT * REFERENCE_SHORT_SIDE)
    for name, (words, room) in never_shortened(slide).items():
        width, limit = facts.width(words, em), round(room * REFERENCE_SHORT_SIDE)
        if width > limit:
            found.append(
                (
                    reasons.UNFITTABLE_CODE,
                    name,
                    f"{name} {words!r} is never shortened, and at the smallest text size it "
                    f"needs {width / limit:.0%} of the room it gets: make it shorter",
                )
            )
    return found


def check(slide: Slide) -> None:
    """Raise ContentRejected with the first problem of `slide` (see `problems`)."""
    found = problems(slide)
    if found:
        reason, _name, detail = found[0]
        raise ContentRejected(reason, f"slide {slide.id!r}: {detail}")
