"""The check-in card: a QR code on white with its label, in a zone of its own.

Legible from 2 m: at 1080p the code's modules are at least 6 px (12 px at 4K,
never under 6 px from 720p up, so a photo of the screen at a quarter of its
width still decodes) and the label's capitals stand 32 px tall (44 px em). On a
landscape screen the label sits under the code, on a portrait one beside it.
The card's place and size depend only on the canvas and how many modules the
code has, so a new nonce's code (same length) covers the old one exactly and
the Stage swaps it without repainting the slide. Its zone (the card and a
margin) is kept free of slide content by every layout (edge.signage.layout).
"""

from __future__ import annotations

from dataclasses import dataclass

import pygame

from edge.signage import text
from edge.signage.look import INK, LABEL, MARGIN, RADIUS_SMALL, WHITE
from edge.signage.qr import QUIET_ZONE, Matrix, matrix_surface

MIN_MODULE_PX = 6
"""Module size at 1080p (and the floor from 720p up); it scales with the short side."""

REFERENCE_MODULES = 33
"""The card is sized for a version 4 code (33 modules: a check-in URL of up to 78 bytes
at error correction L); a longer URL makes a larger card, a shorter one wider margins."""

DEFAULT_LABEL = "Scan to check in"


@dataclass(frozen=True, slots=True)
class CardGeometry:
    """Where the card goes and how it is laid out, for one canvas size and code size."""

    card: pygame.Rect  # the white card, on the canvas
    zone: pygame.Rect  # the card and its margin: no slide content enters it
    qr: pygame.Rect  # the code's square (quiet zone included), inside the card
    label: pygame.Rect  # the label's box, inside the card
    module: int  # pixels per module
    label_size: int  # the label's em size in pixels
    beside: bool  # the label is beside the code (portrait), not under it


def module_px(size: tuple[int, int], modules: int = REFERENCE_MODULES) -> int:
    """Pixels per module: 6 at 1080p, scaled with the short side, never under 6 from 720p
    up; on a tiny canvas as many as fit in 45 % of its short side."""
    unit = max(1, min(size))
    n = modules + 2 * QUIET_ZONE
    wanted = max(MIN_MODULE_PX, round(MIN_MODULE_PX * unit / 1080))
    return max(1, min(wanted, int(unit * 0.45) // n))


def card_geometry(size: tuple[int, int], modules: int = REFERENCE_MODULES) -> CardGeometry:
    """The card for a `size` canvas and a code of `modules` modules a side."""
    w, h = size
    unit = max(1, min(size))
    modules = max(modules, REFERENCE_MODULES)
    module = module_px(size, modules)
    box = (modules + 2 * QUIET_ZONE) * module
    label_size = max(1, round(LABEL * unit))
    pitch = text.metrics(label_size)[0]
    pad = 2 * module  # half the quiet zone: the label's own margin inside the card
    beside = h > w
    if beside:
        label_w = round(box * 0.85)
        card = pygame.Rect(0, 0, box + label_w + pad, box)
        label = pygame.Rect(box, 0, label_w, box)
    else:
        card = pygame.Rect(0, 0, box, box + 2 * pitch + pad)
        label = pygame.Rect(pad, box, box - 2 * pad, 2 * pitch)  # clear of the quiet zone
    margin = max(1, round(MARGIN * unit))
    card.bottomright = (w - margin, h - margin)
    zone = card.inflate(2 * margin, 2 * margin)
    canvas = pygame.Rect((0, 0), size)
    return CardGeometry(
        card=card,
        zone=zone.clip(canvas),
        qr=pygame.Rect(card.x, card.y, box, box),
        label=label.move(card.x, card.y),
        module=module,
        label_size=label_size,
        beside=beside,
    )


def checkin_corner(size: tuple[int, int], modules: int = REFERENCE_MODULES) -> pygame.Rect:
    """Where the card itself goes on a `size` canvas (see `card_geometry`)."""
    return card_geometry(size, modules).card.clip(pygame.Rect((0, 0), size))


def checkin_zone(size: tuple[int, int], modules: int = REFERENCE_MODULES) -> pygame.Rect:
    """The card's zone (the card and its margin), which no slide content enters."""
    return card_geometry(size, modules).zone


def checkin_card(size: tuple[int, int], code: Matrix, label: str) -> pygame.Surface:
    """The check-in card for a `size` canvas: `code` on white, `label` under or beside it.

    The code has whole-pixel modules; the label is set at its full size (never
    shrunk: that is what makes it legible) on up to two lines, ellipsised beyond.
    """
    geo = card_geometry(size, len(code))
    card = pygame.Surface(geo.card.size, pygame.SRCALPHA)
    unit = max(1, min(size))
    pygame.draw.rect(card, WHITE, card.get_rect(), border_radius=max(0, round(RADIUS_SMALL * unit)))
    qr = matrix_surface(code, geo.qr.w)
    square = geo.qr.move(-geo.card.x, -geo.card.y)
    card.blit(qr, qr.get_rect(center=square.center))
    room = geo.label.move(-geo.card.x, -geo.card.y)
    fitted = text.fit(
        label,
        room.w,
        room.h,
        max_size=geo.label_size,
        min_size=geo.label_size,
        max_lines=3 if geo.beside else 2,
    )
    text.draw(
        card,
        fitted,
        room.x,
        room.centery - fitted.height // 2,
        width=room.w,
        color=INK,
        align="left" if geo.beside else "center",
    )
    return card.convert_alpha() if pygame.display.get_surface() is not None else card
