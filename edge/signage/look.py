"""How a slide looks: its colours (checked for contrast), the size unit and the type scale.

Sizes are fractions of the surface's short side, so one layout reads well at
1920x1080 landscape and 1080x1920 portrait. Text colours are checked against the
paper they sit on (WCAG 2 contrast at least 4.5:1, the AA level for text): a
manifest colour that fails it is replaced by the best of the slide's other
colours, white or near-black, so text central sends is always legible.
"""

from __future__ import annotations

from dataclasses import dataclass

import pygame

from edge.content.slides import Slide

WHITE = pygame.Color(255, 255, 255)
INK = pygame.Color(16, 24, 32)
BLACK = pygame.Color(0, 0, 0)

MIN_CONTRAST = 4.5
"""WCAG 2 AA for text: every text colour against its paper."""

# The type scale: em sizes as fractions of the short side (a major third, 1.33, apart).
# At 1080p: hero 162 px, display 122, headline 92, title 69, body 52, label 44, min 37.
HERO = 0.15
DISPLAY = 0.113
HEADLINE = 0.085
TITLE = 0.064
BODY = 0.048
LABEL = 0.041
"""The check-in label, captions: 44 px at 1080p, so capitals stand 32 px tall."""
MIN_TEXT = 0.034
"""Nothing is set smaller (37 px em, 27 px capitals at 1080p): legible from 2 m."""

# Spacing and shapes, also fractions of the short side.
GUTTER = 0.03
"""Between blocks inside a zone."""
MARGIN = 0.04
"""Around the check-in card and between panels and the screen's edge."""
RADIUS = 0.02
"""Corner radius of every panel and card; small pills use RADIUS_SMALL."""
RADIUS_SMALL = 0.01
SAFE = 0.05
"""Title-safe margins: 5 % of a zone's width and height on each side (broadcast practice)."""


def luminance(c: pygame.Color) -> float:
    """WCAG relative luminance of `c` (0 black .. 1 white)."""

    def channel(v: int) -> float:
        s = v / 255
        return s / 12.92 if s <= 0.04045 else float(((s + 0.055) / 1.055) ** 2.4)

    return 0.2126 * channel(c.r) + 0.7152 * channel(c.g) + 0.0722 * channel(c.b)


def contrast(a: pygame.Color, b: pygame.Color) -> float:
    """WCAG contrast ratio of two colours, 1 (none) to 21 (black on white)."""
    la, lb = luminance(a), luminance(b)
    return (max(la, lb) + 0.05) / (min(la, lb) + 0.05)


def readable(paper: pygame.Color, *wanted: pygame.Color) -> pygame.Color:
    """The first of `wanted` at 4.5:1 or better on `paper`; else near-black or white,
    whichever reads better (one of the two always reaches 4.5:1)."""
    for ink in wanted:
        if contrast(ink, paper) >= MIN_CONTRAST:
            return ink
    for ink in (INK, WHITE):
        if contrast(ink, paper) >= MIN_CONTRAST:
            return ink
    return max((BLACK, WHITE), key=lambda ink: contrast(ink, paper))


def ink_on(paper: pygame.Color, *inks: pygame.Color) -> pygame.Color:
    """The ink with the best contrast on `paper` among `inks` (kept for callers)."""
    return max(inks, key=lambda ink: contrast(ink, paper))


@dataclass(frozen=True, slots=True)
class Look:
    """Everything a layout needs besides the slide: colours and the size unit."""

    background: pygame.Color
    foreground: pygame.Color
    accent: pygame.Color
    unit: int  # the short side of the surface; all sizes are fractions of it

    def px(self, fraction: float, floor: int = 1) -> int:
        return max(floor, round(self.unit * fraction))

    @property
    def text(self) -> pygame.Color:
        """Text on the slide's background: its foreground if that reads, else a fallback."""
        return readable(self.background, self.foreground)

    def text_on(self, paper: pygame.Color) -> pygame.Color:
        """Text on `paper` (an accent card, a panel): foreground or background if either
        reads, else near-black or white."""
        return readable(paper, self.foreground, self.background)

    @property
    def highlight(self) -> pygame.Color:
        """Accent-coloured text (prices) where the accent reads on the background."""
        return readable(self.background, self.accent, self.foreground)

    @property
    def panel(self) -> pygame.Color:
        """A quiet tint of the background for side panels and tiles."""
        return self.background.lerp(self.foreground, 0.07)


def look_for(surface: pygame.Surface | tuple[int, int], slide: Slide) -> Look:
    """`slide`'s colours, sized for `surface` (or a size)."""
    size = surface if isinstance(surface, tuple) else surface.get_size()
    return Look(
        pygame.Color(slide.background),
        pygame.Color(slide.foreground),
        pygame.Color(slide.accent),
        max(1, min(size)),
    )
