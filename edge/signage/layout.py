"""The screen's zones: where a slide's content may go, and where it never goes.

A layout divides the canvas into named zones:

- `main`: the slide itself;
- `band`: where a ticker's messages run (a bottom band in the `default` layout, the
  upper part of the side column in `sidebar`), present only while a ticker plays;
- `side`: the `sidebar` layout's column (landscape) or footer (portrait), a panel
  holding the band and the check-in card;
- `card`: the check-in card and its margin. No slide content enters it, in any
  orientation or size; slides that show a QR code of their own have no card
  (the card steps aside for them), so they get the whole canvas.

Pure geometry on pygame.Rect (no display needed). Text goes in a zone's title-safe
area (`safe`: 5 % margins, the broadcast convention).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import pygame

from edge.signage.look import SAFE

BAND = 0.1
"""The default layout's bottom band, as a fraction of the short side."""
SIDEBAR = 0.26
"""The sidebar layout's column: at least this fraction of the width (landscape), or of
the height as a footer (portrait, 0.85 of it)."""


@dataclass(frozen=True, slots=True)
class Zones:
    """The zones of one canvas for one slide."""

    canvas: pygame.Rect
    main: pygame.Rect
    band: pygame.Rect | None = None
    side: pygame.Rect | None = None
    card: pygame.Rect | None = None
    names: tuple[str, ...] = field(default=())

    def named(self) -> dict[str, pygame.Rect]:
        found = {"main": self.main}
        for name in ("band", "side", "card"):
            rect = getattr(self, name)
            if rect is not None:
                found[name] = rect
        return found


def safe(rect: pygame.Rect) -> pygame.Rect:
    """`rect`'s title-safe area: 5 % of its width and height in from each side."""
    return rect.inflate(-2 * round(rect.w * SAFE), -2 * round(rect.h * SAFE))


def zones(
    size: tuple[int, int],
    layout: str = "default",
    *,
    card: pygame.Rect | None = None,
    ticker: bool = False,
) -> Zones:
    """The zones of a `size` canvas. `card` is the check-in card's zone (None: no card on
    this slide); `ticker` asks for a band."""
    w, h = size
    canvas = pygame.Rect(0, 0, w, h)
    unit = max(1, min(size))
    portrait = h > w
    if card is not None:
        card = card.clip(canvas)
        if not card.w or not card.h:
            card = None
    if layout == "sidebar" and (card is not None or ticker):
        return _sidebar(canvas, unit, portrait, card, ticker)
    if card is None:
        if not ticker:
            return Zones(canvas, canvas.copy())
        band_h = round(BAND * unit)
        band = pygame.Rect(0, h - band_h, w, band_h)
        return Zones(canvas, pygame.Rect(0, 0, w, h - band_h), band=band)
    if portrait:  # the card's strip along the bottom; the band beside the card
        strip = pygame.Rect(0, card.y, w, h - card.y)
        strip_band = pygame.Rect(0, strip.y, card.x, strip.h) if ticker else None
        return Zones(canvas, pygame.Rect(0, 0, w, strip.y), band=strip_band, card=card)
    # landscape: the card's column on the right; the band under the main zone
    column_x = card.x
    band_h = round(BAND * unit) if ticker else 0
    column_band = pygame.Rect(0, h - band_h, column_x, band_h) if ticker else None
    main = pygame.Rect(0, 0, column_x, h - band_h)
    return Zones(canvas, main, band=column_band, card=card)


def _sidebar(
    canvas: pygame.Rect,
    unit: int,
    portrait: bool,
    card: pygame.Rect | None,
    ticker: bool,
) -> Zones:
    w, h = canvas.size
    if portrait:
        side_h = max(card.h if card else 0, round(SIDEBAR * 0.85 * h))
        side = pygame.Rect(0, h - side_h, w, side_h)
        zone = None if card is None else pygame.Rect(card.x, side.y, w - card.x, side_h)
        band = pygame.Rect(0, side.y, zone.x if zone else w, side_h) if ticker else None
        return Zones(canvas, pygame.Rect(0, 0, w, side.y), band=band, side=side, card=zone)
    side_w = max(card.w if card else 0, round(SIDEBAR * w))
    side = pygame.Rect(w - side_w, 0, side_w, h)
    zone = None if card is None else pygame.Rect(side.x, card.y, side_w, h - card.y)
    band = pygame.Rect(side.x, 0, side_w, zone.y if zone else h) if ticker else None
    return Zones(canvas, pygame.Rect(0, 0, side.x, h), band=band, side=side, card=zone)
