"""How a slide looks: its colours, the size unit, and which ink reads on which paper.

Sizes are fractions of the surface's short side, so one layout reads well at
1920x1080 landscape and 1080x1920 portrait; ink is picked by WCAG contrast, so
text on a slide's accent colour stays legible whatever colours central sends.
"""

from __future__ import annotations

from dataclasses import dataclass

import pygame

from edge.content.slides import Slide

WHITE = pygame.Color(255, 255, 255)
INK = pygame.Color(16, 24, 32)


@dataclass(frozen=True, slots=True)
class Look:
    """Everything a layout needs besides the slide: colours and the size unit."""

    background: pygame.Color
    foreground: pygame.Color
    accent: pygame.Color
    unit: int  # the short side of the surface; all sizes are fractions of it
    # (font sizes are nominal: pygame draws its default font at ~0.69 of the size asked)

    def px(self, fraction: float, floor: int = 1) -> int:
        return max(floor, round(self.unit * fraction))


def look_for(surface: pygame.Surface, slide: Slide) -> Look:
    """`slide`'s colours, sized for `surface`."""
    return Look(
        pygame.Color(slide.background),
        pygame.Color(slide.foreground),
        pygame.Color(slide.accent),
        max(1, min(surface.get_size())),
    )


def luminance(c: pygame.Color) -> float:
    """WCAG relative luminance of `c` (0 black .. 1 white)."""

    def channel(v: int) -> float:
        s = v / 255
        return s / 12.92 if s <= 0.03928 else float(((s + 0.055) / 1.055) ** 2.4)

    return 0.2126 * channel(c.r) + 0.7152 * channel(c.g) + 0.0722 * channel(c.b)


def ink_on(paper: pygame.Color, *inks: pygame.Color) -> pygame.Color:
    """The ink with the best WCAG contrast on `paper`, so text on the accent stays legible."""
    lp = luminance(paper)
    return max(
        inks, key=lambda ink: (max(lp, luminance(ink)) + 0.05) / (min(lp, luminance(ink)) + 0.05)
    )
