"""The pieces slide layouts are made of: text blocks, pictures, QR codes, pills, the badge.

Each draws into a given rectangle of a surface in a slide's `Look` and notes what
it put where in a `Placed` (text, images, QR codes, codes and prices), so tests
can check that nothing overlaps and nothing enters the check-in card's zone.
None needs a display, a clock or files (images come through `ImageFor`).
"""

from __future__ import annotations

from collections.abc import Callable

import pygame

from edge.errors import ContentRejected
from edge.signage import text
from edge.signage.look import (
    BODY,
    GUTTER,
    HEADLINE,
    MIN_TEXT,
    RADIUS,
    RADIUS_SMALL,
    WHITE,
    Look,
)
from edge.signage.qr import QUIET_ZONE, matrix_surface, qr_matrix

ImageFor = Callable[[str], pygame.Surface | None]
"""Looks an asset name up; returns None for anything it cannot load."""

MIN_SLIDE_MODULE = 6
"""A slide's own QR code gets modules of at least this many pixels when its cell allows."""


class Placed(list[tuple[str, pygame.Rect]]):
    """What a layout drew where: (role, rectangle), role one of "text", "image", "qr",
    "code", "price", "badge"."""

    def add(self, role: str, rect: pygame.Rect) -> pygame.Rect:
        if rect.w > 0 and rect.h > 0:
            self.append((role, pygame.Rect(rect)))
        return rect


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


def cover(surface: pygame.Surface, image: pygame.Surface, area: pygame.Rect) -> None:
    """`image` scaled to cover `area` and cropped to it (nothing drawn outside `area`)."""
    rect = fitted_rect(image.get_size(), area, "fill")
    scale = rect.w / image.get_width()
    seen = pygame.Rect(  # the part of the image that lands on the area
        round((area.x - rect.x) / scale),
        round((area.y - rect.y) / scale),
        round(area.w / scale),
        round(area.h / scale),
    ).clip(image.get_rect())
    if seen.w and seen.h:
        scale_into(surface, image.subsurface(seen), area)


def block(
    surface: pygame.Surface,
    area: pygame.Rect,
    words: str,
    *,
    color: pygame.Color,
    max_size: float,
    min_size: float,
    look: Look,
    placed: Placed,
    role: str = "text",
    align: text.Align = "center",
    valign: str = "center",
    max_lines: int = 0,
    shorten: bool = True,
) -> pygame.Rect:
    """`words` fitted into `area` (sizes as fractions of the unit) and drawn; the rectangle
    the lines occupy (empty if nothing was drawn)."""
    if not words or area.w <= 0 or area.h <= 0:
        return pygame.Rect(area.x, area.y, 0, 0)
    fitted = text.fit(
        words,
        area.w,
        area.h,
        max_size=look.px(max_size),
        min_size=look.px(min_size),
        max_lines=max_lines,
        shorten=shorten,
    )
    y = {"top": area.y, "bottom": area.bottom - fitted.height}.get(
        valign, area.y + (area.h - fitted.height) // 2
    )
    drawn = text.draw(surface, fitted, area.x, y, width=area.w, color=color, align=align)
    return placed.add(role, drawn)


Part = tuple[int, Callable[[int], object]]
"""A block of a stack: its height, and how to draw it with its top at y."""


def text_part(
    surface: pygame.Surface,
    fitted: text.Fitted,
    area: pygame.Rect,
    color: pygame.Color,
    placed: Placed,
    *,
    align: text.Align = "center",
    role: str = "text",
) -> Part:
    """`fitted` as a block of a stack across `area`'s width."""

    def draw(y: int) -> None:
        drawn = text.draw(surface, fitted, area.x, y, width=area.w, color=color, align=align)
        placed.add(role, drawn)

    return fitted.height, draw


def stack(parts: list[Part], area: pygame.Rect, gap: int, valign: str = "center") -> int:
    """Draw `parts` one under the other with `gap` between, the whole placed in `area`
    (top, centre or bottom); returns the stack's height."""
    parts = [p for p in parts if p[0] > 0]
    total = sum(h for h, _ in parts) + gap * max(0, len(parts) - 1)
    y = {"top": area.y, "bottom": area.bottom - total}.get(valign, area.y + (area.h - total) // 2)
    for h, draw in parts:
        draw(y)
        y += h + gap
    return total


def title_body(
    surface: pygame.Surface,
    area: pygame.Rect,
    title: str,
    body: str,
    look: Look,
    *,
    placed: Placed,
    color: pygame.Color,
    align: text.Align,
    rule: bool = True,
    title_size: float = HEADLINE,
    body_size: float = BODY,
    valign: str = "center",
) -> pygame.Rect:
    """Title over body, each shrunk to fit (then ellipsised), centred vertically in `area`.

    `rule` draws a short accent line between them. Returns the space they took.
    """
    if area.w <= 0 or area.h <= 0 or not (title or body):
        return pygame.Rect(area.x, area.y, 0, 0)
    gap = look.px(GUTTER) if title and body else 0
    rule_h = look.px(0.008, 2) if rule and title and body else 0
    head = text.fit(
        title,
        area.w,
        int(area.h * (0.55 if body else 1)),
        max_size=look.px(title_size),
        min_size=look.px(MIN_TEXT),
        max_lines=4,
    )
    room = area.h - head.height - 2 * gap - rule_h
    body_max = look.px(body_size)
    if head.lines and head.size:  # the type scale holds: a body never outsizes its title
        body_max = min(body_max, head.size)
    copy = text.fit(body, area.w, room, max_size=body_max, min_size=look.px(MIN_TEXT))
    if not copy.lines:
        gap, rule_h = 0, 0
    total = head.height + 2 * gap + rule_h + copy.height
    y = {"top": area.y, "bottom": area.bottom - total}.get(valign, area.y + (area.h - total) // 2)
    top = y
    placed.add("text", text.draw(surface, head, area.x, y, width=area.w, color=color, align=align))
    y += head.height + gap
    if rule_h:
        width = min(area.w, look.px(0.16))
        x = {"center": area.x + (area.w - width) // 2, "right": area.right - width}.get(
            align, area.x
        )
        pygame.draw.rect(surface, look.accent, (x, y, width, rule_h))
    y += rule_h + gap
    placed.add("text", text.draw(surface, copy, area.x, y, width=area.w, color=color, align=align))
    return pygame.Rect(area.x, top, area.w, total)


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
    surface: pygame.Surface,
    area: pygame.Rect,
    name: str | None,
    image_for: ImageFor,
    look: Look,
    *,
    placed: Placed,
    dim: bool = False,
    placeholder: bool = True,
) -> pygame.Rect:
    """The named image letterboxed in `area` (dimmed if `dim`), or a placeholder if it is
    missing (nothing if not `placeholder`); returns where it went."""
    scaled = scaled_image(name, image_for, area.size)
    if scaled is None:
        if not placeholder:
            return pygame.Rect(area.x, area.y, 0, 0)
        draw_placeholder(surface, area, look)
        return placed.add("image", area)
    if dim:
        veil = pygame.Surface(scaled.get_size(), pygame.SRCALPHA)
        veil.fill((*look.background[:3], 120))
        scaled = scaled.copy()
        scaled.blit(veil, (0, 0))
    rect = scaled.get_rect(center=area.center)
    surface.blit(scaled, rect)
    return placed.add("image", rect)


def draw_placeholder(surface: pygame.Surface, area: pygame.Rect, look: Look) -> None:
    """A neutral grey picture frame: obviously "image missing", never a black hole."""
    grey = look.background.lerp((128, 128, 128), 0.6)
    line = grey.lerp(WHITE, 0.35)
    pygame.draw.rect(surface, grey, area, border_radius=look.px(RADIUS))
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


def draw_qr(
    surface: pygame.Surface, cell: pygame.Rect, data: str, look: Look, placed: Placed
) -> pygame.Rect:
    """A QR code centred in `cell`, as large as fits with whole-pixel modules (error
    correction M, raised where the size allows); a placeholder if it cannot be made."""
    try:
        matrix = qr_matrix(data)
    except ContentRejected:
        draw_placeholder(surface, cell, look)
        return placed.add("image", cell)
    code = matrix_surface(matrix, min(cell.w, cell.h))
    rect = code.get_rect(center=cell.center)
    surface.blit(code, rect)
    return placed.add("qr", rect)


def qr_side(data: str, room: int) -> int:
    """The side of the QR code `draw_qr` would draw in a `room`-pixel square."""
    try:
        n = len(qr_matrix(data)) + 2 * QUIET_ZONE
    except ContentRejected:
        return room
    return n * max(1, room // n)


def pill_part(
    surface: pygame.Surface,
    area: pygame.Rect,
    words: str,
    look: Look,
    *,
    placed: Placed,
    paper: pygame.Color,
    dot: pygame.Color | None = None,
    size: float,
    align: text.Align = "left",
) -> Part:
    """A rounded label (a stock state) as a block of a stack: text on `paper`, a dot."""
    pad = look.px(0.012, 2)
    dot_d = look.px(size * 0.45) if dot is not None else 0
    room = area.w - 2 * pad - (dot_d + pad if dot_d else 0)
    fitted = text.fit(
        words,
        room,
        max(0, area.h - 2 * pad),
        max_size=look.px(size),
        min_size=look.px(MIN_TEXT * 0.8),
        max_lines=1,
    )
    if not words or room <= 0 or not fitted.lines:
        return 0, lambda _y: None
    w = fitted.width + 2 * pad + (dot_d + pad if dot_d else 0)
    h = fitted.height + 2 * pad
    x = {"center": area.x + (area.w - w) // 2, "right": area.right - w}.get(align, area.x)

    def draw(y: int) -> None:
        _pill(
            surface,
            pygame.Rect(x, y, w, h),
            fitted,
            look,
            placed=placed,
            paper=paper,
            dot=dot,
            dot_d=dot_d,
            pad=pad,
        )

    return h, draw


def _pill(
    surface: pygame.Surface,
    shape: pygame.Rect,
    fitted: text.Fitted,
    look: Look,
    *,
    placed: Placed,
    paper: pygame.Color,
    dot: pygame.Color | None,
    dot_d: int,
    pad: int,
) -> pygame.Rect:
    h = shape.h
    pygame.draw.rect(surface, paper, shape, border_radius=h // 2)
    left = shape.x + pad
    if dot is not None and dot_d:
        pygame.draw.circle(surface, dot, (left + dot_d // 2, shape.centery), dot_d // 2)
        left += dot_d + pad
    ink = look.text_on(paper)
    text.draw(surface, fitted, left, shape.y + pad, width=fitted.width, color=ink, align="left")
    return placed.add("text", shape)


def draw_badge(surface: pygame.Surface, label: str, look: Look, placed: Placed) -> None:
    """A small translucent pill in the top-right corner, in the screen's top margin."""
    fitted = text.fit(
        label,
        surface.get_width() // 3,
        look.px(0.07),
        max_size=look.px(0.025),
        min_size=look.px(0.018, 8),
        max_lines=1,
    )
    if not fitted.lines or not text.visible(fitted.font, fitted.lines[0]):
        return
    words = fitted.font.render(fitted.lines[0], True, WHITE)
    pad = look.px(0.006, 2)
    pill_s = pygame.Surface((words.get_width() + 4 * pad, fitted.pitch + 2 * pad), pygame.SRCALPHA)
    pygame.draw.rect(
        pill_s, (0, 0, 0, 170), pill_s.get_rect(), border_radius=pill_s.get_height() // 2
    )
    pill_s.blit(words, (2 * pad, pad - fitted.trim))
    margin = look.px(0.008)
    at = (surface.get_width() - pill_s.get_width() - look.px(0.02), margin)
    surface.blit(pill_s, at)
    placed.add("badge", pill_s.get_rect(topleft=at))


def panel(surface: pygame.Surface, area: pygame.Rect, colour: pygame.Color, look: Look) -> None:
    """A rounded panel (cards, tiles) with the one corner radius of the design."""
    pygame.draw.rect(surface, colour, area, border_radius=look.px(RADIUS))


def small_radius(look: Look) -> int:
    return look.px(RADIUS_SMALL)


def split_cells(area: pygame.Rect, n: int, gap: int, across: bool) -> list[pygame.Rect]:
    """`area` cut into `n` equal cells, side by side if `across`, else stacked."""
    if across:
        w = (area.w - gap * (n - 1)) // n
        return [pygame.Rect(area.x + i * (w + gap), area.y, w, area.h) for i in range(n)]
    h = (area.h - gap * (n - 1)) // n
    return [pygame.Rect(area.x, area.y + i * (h + gap), area.w, h) for i in range(n)]
