"""The pieces slide layouts are made of: text blocks, stacks, pills, the badge, panels
(pictures and QR codes are in `pictures`).

Each draws into a given rectangle of a surface in a slide's `Look` and notes what
it put where in a `Placed` (text, images, QR codes, codes and prices), so tests
can check that nothing overlaps and nothing enters the check-in card's zone.
None needs a display, a clock or files.
"""

from __future__ import annotations

from collections.abc import Callable

import pygame

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


class Placed(list[tuple[str, pygame.Rect]]):
    """What a layout drew where: (role, rectangle), role one of "text", "image", "qr",
    "code", "price", "badge"."""

    def add(self, role: str, rect: pygame.Rect) -> pygame.Rect:
        if rect.w > 0 and rect.h > 0:
            self.append((role, pygame.Rect(rect)))
        return rect


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
