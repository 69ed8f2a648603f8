"""The pieces slide layouts are made of: text blocks, pictures, QR codes, the badge.

Each draws into a given rectangle of a surface in a slide's `Look`; none needs a
display, a clock or files (images come through `ImageFor`).
"""

from __future__ import annotations

from collections.abc import Callable

import pygame

from edge.content.slides import Slide
from edge.errors import ContentRejected
from edge.signage import text
from edge.signage.look import WHITE, Look
from edge.signage.qr import qr_surface

ImageFor = Callable[[str], pygame.Surface | None]
"""Looks an asset name up; returns None for anything it cannot load."""


def fitted_rect(source: tuple[int, int], area: pygame.Rect, fit: str) -> pygame.Rect:
    """Where a `source`-sized picture lands, scaled to `area` keeping its aspect.

    "fit" letterboxes the whole picture inside `area`; "fill" covers `area` (the
    result is larger than `area` and centred on it, to be clipped).
    """
    sw, sh = max(1, source[0]), max(1, source[1])
    pick = max if fit == "fill" else min
    scale = pick(area.w / sw, area.h / sh)
    rect = pygame.Rect(0, 0, max(1, round(sw * scale)), max(1, round(sh * scale)))
    rect.center = area.center
    return rect


def scale_into(surface: pygame.Surface, image: pygame.Surface, rect: pygame.Rect) -> None:
    """`image` smooth-scaled onto `rect` of `surface` (which may reach past its edges).

    An opaque image in the surface's own pixel format is scaled straight into it:
    no frame-sized temporary, which matters on a device with little memory.
    """
    inside = rect.clip(surface.get_rect())
    if (
        inside == rect
        and rect.w
        and rect.h
        and not image.get_flags() & pygame.SRCALPHA
        and image.get_bitsize() == surface.get_bitsize()
        and image.get_masks() == surface.get_masks()
    ):
        pygame.transform.smoothscale(image, rect.size, surface.subsurface(rect))
    else:
        surface.blit(pygame.transform.smoothscale(image, rect.size), rect)


def title_body(
    surface: pygame.Surface,
    area: pygame.Rect,
    slide: Slide,
    look: Look,
    *,
    color: pygame.Color,
    align: text.Align,
    rule: bool = True,
) -> None:
    """Title over body, shrunk to fit `area` and centred vertically in it.

    `rule` draws a short accent line between them (not where the accent is the paper).
    """
    if area.w <= 0 or area.h <= 0:
        return
    title, body = slide.title, slide.body
    gap = look.px(0.03) if title and body else 0
    rule_h = look.px(0.008, 2) if rule and title and body else 0
    head = text.fit(
        title,
        area.w,
        int(area.h * (0.5 if body else 1)),
        max_size=look.px(0.2),
        min_size=look.px(0.07, 8),
        max_lines=4,
    )
    room = area.h - head.height - 2 * gap - rule_h
    copy = text.fit(body, area.w, room, max_size=look.px(0.1), min_size=look.px(0.05, 8))
    y = area.y + (area.h - head.height - 2 * gap - rule_h - copy.height) // 2
    text.draw(surface, head, area.x, y, width=area.w, color=color, align=align)
    y += head.height + gap
    if rule_h:
        width = min(area.w, look.px(0.2))
        x = area.x + (area.w - width) // 2 if align == "center" else area.x
        pygame.draw.rect(surface, look.accent, (x, y, width, rule_h))
    text.draw(surface, copy, area.x, y + rule_h + gap, width=area.w, color=color, align=align)


def usable(image: pygame.Surface | None) -> pygame.Surface | None:
    """`image` in a depth smoothscale takes (24 or 32 bits), or None if empty."""
    if image is None or min(image.get_size()) == 0:
        return None
    if image.get_bitsize() not in (24, 32):
        converted = pygame.Surface(image.get_size(), pygame.SRCALPHA, 32)
        converted.blit(image, (0, 0))
        image = converted
    return image


def scaled_image(
    name: str | None, image_for: ImageFor, size: tuple[int, int]
) -> pygame.Surface | None:
    """The named image smooth-scaled to fit `size` keeping its aspect, or None if missing."""
    image = usable(image_for(name) if name else None)
    if image is None or min(size) <= 0:
        return None
    rect = fitted_rect(image.get_size(), pygame.Rect((0, 0), size), "fit")
    return pygame.transform.smoothscale(image, rect.size)


def draw_picture(
    surface: pygame.Surface, area: pygame.Rect, name: str | None, image_for: ImageFor, look: Look
) -> None:
    """The named image letterboxed in `area`, or a placeholder if it is missing."""
    scaled = scaled_image(name, image_for, area.size)
    if scaled is None:
        draw_placeholder(surface, area, look)
    else:
        surface.blit(scaled, scaled.get_rect(center=area.center))


def draw_placeholder(surface: pygame.Surface, area: pygame.Rect, look: Look) -> None:
    """A neutral grey picture frame: obviously "image missing", never a black hole."""
    grey = look.background.lerp((128, 128, 128), 0.6)
    line = grey.lerp(WHITE, 0.35)
    pygame.draw.rect(surface, grey, area, border_radius=look.px(0.02))
    s = min(area.w, area.h) // 3
    if s < 6:
        return
    icon = pygame.Rect(0, 0, s, s * 3 // 4)
    icon.center = area.center
    width = max(1, s // 24)
    pygame.draw.rect(surface, line, icon, width, border_radius=max(1, s // 16))
    pygame.draw.circle(surface, line, (icon.x + s * 7 // 10, icon.y + s // 4), max(1, s // 10))
    pygame.draw.polygon(
        surface,
        line,
        [
            (icon.x + s // 8, icon.bottom - s // 8),
            (icon.x + s * 3 // 8, icon.y + s * 3 // 8),
            (icon.x + s * 5 // 8, icon.bottom - s // 8),
        ],
    )


def draw_qr(surface: pygame.Surface, cell: pygame.Rect, data: str, look: Look) -> None:
    """A QR code centred in `cell`, as large as fits with whole-pixel modules."""
    try:
        code = qr_surface(data, min(cell.w, cell.h))
    except ContentRejected:
        draw_placeholder(surface, cell, look)
        return
    surface.blit(code, code.get_rect(center=cell.center))


def draw_badge(surface: pygame.Surface, label: str, look: Look) -> None:
    """A small translucent pill in the top-right corner, readable on any slide."""
    fitted = text.fit(
        label,
        surface.get_width() // 3,
        look.px(0.07),
        max_size=look.px(0.045),
        min_size=look.px(0.025, 8),
        max_lines=1,
    )
    if not fitted.lines:
        return
    words = fitted.font.render(fitted.lines[0], True, WHITE)
    pad = look.px(0.012, 2)
    pill = pygame.Surface(
        (words.get_width() + 4 * pad, words.get_height() + 2 * pad), pygame.SRCALPHA
    )
    pygame.draw.rect(pill, (0, 0, 0, 170), pill.get_rect(), border_radius=pill.get_height() // 2)
    pill.blit(words, (2 * pad, pad))
    margin = look.px(0.02)
    surface.blit(pill, (surface.get_width() - pill.get_width() - margin, margin))


def avoid(area: pygame.Rect, keep: pygame.Rect, n: int, gap: int, across: bool) -> pygame.Rect:
    """The part of `area` beside `keep` (cut on one side) whose `n` cells are largest."""
    if not area.colliderect(keep):
        return area
    room = keep.inflate(2 * gap, 2 * gap)
    left = area.clip(area.x, area.y, room.x - area.x, area.h)
    above = area.clip(area.x, area.y, area.w, room.y - area.y)
    right = area.clip(room.right, area.y, area.right - room.right, area.h)
    below = area.clip(area.x, room.bottom, area.w, area.bottom - room.bottom)

    def cell(side: pygame.Rect) -> int:
        if side.w <= 0 or side.h <= 0:
            return 0
        first = split_cells(side, n, gap, across)[0]
        return min(first.w, first.h)

    return max([left, above, right, below], key=cell)


def split_cells(area: pygame.Rect, n: int, gap: int, across: bool) -> list[pygame.Rect]:
    """`area` cut into `n` equal cells, side by side if `across`, else stacked."""
    if across:
        w = (area.w - gap * (n - 1)) // n
        return [pygame.Rect(area.x + i * (w + gap), area.y, w, area.h) for i in range(n)]
    h = (area.h - gap * (n - 1)) // n
    return [pygame.Rect(area.x, area.y + i * (h + gap), area.w, h) for i in range(n)]
