"""The check-in card: a QR code on white with a label under it, in the bottom-right corner.

Its place and size depend only on the canvas, so a new code always covers the
old one exactly and the Stage can swap it without repainting the slide.
"""

from __future__ import annotations

import pygame

from edge.signage import text
from edge.signage.look import INK, WHITE, Look
from edge.signage.qr import Matrix, matrix_surface

CHECKIN_QR = 0.17
"""The check-in card's QR square (white quiet zone included), as a fraction of the short side."""


def checkin_corner(size: tuple[int, int]) -> pygame.Rect:
    """Where the check-in card goes on a `size` canvas: the bottom-right corner.

    Its size depends only on the canvas, so a new code always covers the old one
    exactly.
    """
    look = Look(WHITE, INK, INK, max(1, min(size)))
    box = look.px(CHECKIN_QR, 21 + 2 * 4)  # never below one pixel per module of a version 1 code
    margin = look.px(0.02)
    rect = pygame.Rect(0, 0, box, box + look.px(0.04, 10))
    rect.bottomright = (size[0] - margin, size[1] - margin)
    canvas = pygame.Rect((0, 0), size)
    return rect.clamp(canvas).clip(canvas)


def checkin_card(size: tuple[int, int], code: Matrix, label: str) -> pygame.Surface:
    """The check-in card for a `size` canvas: `code` on white, `label` under it.

    The QR code fills as much of the card's top square as whole-pixel modules
    allow; the spare pixels widen its quiet zone, which the label never enters.
    """
    rect = checkin_corner(size)
    look = Look(WHITE, INK, INK, max(1, min(size)))
    card = pygame.Surface(rect.size, pygame.SRCALPHA)
    box = rect.w
    pygame.draw.rect(card, WHITE, card.get_rect(), border_radius=look.px(0.01, 0))
    qr = matrix_surface(code, box)
    card.blit(qr, qr.get_rect(center=(box // 2, box // 2)))
    strip = pygame.Rect(0, box, rect.w, rect.h - box).inflate(-2 * look.px(0.008), 0)
    strip.h -= look.px(0.006)  # a little white under the words
    fitted = text.fit(
        label,
        strip.w,
        strip.h,
        max_size=look.px(0.035),
        min_size=look.px(0.015, 8),
        max_lines=1,
    )
    text.draw(
        card,
        fitted,
        strip.x,
        strip.centery - fitted.height // 2,
        width=strip.w,
        color=INK,
    )
    return card.convert_alpha() if pygame.display.get_surface() is not None else card
