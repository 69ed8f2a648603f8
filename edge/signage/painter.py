"""Draws one slide onto a surface of any size and orientation.

No display, clock or files are needed (images come through `image_for`), so every
layout is testable headless. Sizes are proportions of the surface, so the same slide
reads well at 1920x1080 landscape and 1080x1920 portrait.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import pygame

from edge.content.slides import Slide
from edge.errors import ContentRejected
from edge.signage import text
from edge.signage.qr import Matrix, matrix_surface, qr_surface

ImageFor = Callable[[str], pygame.Surface | None]
"""Looks an asset name up; returns None for anything it cannot load."""

WHITE = pygame.Color(255, 255, 255)
INK = pygame.Color(16, 24, 32)

CHECKIN_QR = 0.17
"""The check-in card's QR square (white quiet zone included), as a fraction of the short side."""


@dataclass(frozen=True, slots=True)
class _Look:
    """Everything a layout needs besides the slide: colours and the size unit."""

    background: pygame.Color
    foreground: pygame.Color
    accent: pygame.Color
    unit: int  # the short side of the surface; all sizes are fractions of it
    # (font sizes are nominal: pygame draws its default font at ~0.69 of the size asked)

    def px(self, fraction: float, floor: int = 1) -> int:
        return max(floor, round(self.unit * fraction))


def paint(
    surface: pygame.Surface,
    slide: Slide,
    image_for: ImageFor,
    badge: str | None = None,
    keep_clear: pygame.Rect | None = None,
) -> None:
    """Fill `surface` with `slide`; `badge` is a small corner label such as "offline".

    `keep_clear` is a rectangle that something else will cover (the check-in card):
    a coupon keeps its own QR code and picture out of it; other kinds ignore it.
    """
    box = surface.get_rect()
    look = _look(surface, slide)
    surface.fill(look.background)
    inner = box.inflate(-2 * look.px(0.06), -2 * look.px(0.06))
    if slide.kind == "image":
        _image_slide(surface, slide, image_for, look)
    elif slide.kind == "video":
        _caption(surface, slide, look)  # the Stage puts the frames in picture_area()
    elif slide.kind == "coupon":
        _coupon_slide(surface, slide, image_for, look, keep_clear)
    elif slide.kind == "qr":
        _qr_slide(surface, inner, slide, look)
    else:
        _title_body(surface, inner, slide, look, color=look.foreground, align="center")
    if badge:
        _badge(surface, badge, look)


def _look(surface: pygame.Surface, slide: Slide) -> _Look:
    return _Look(
        pygame.Color(slide.background),
        pygame.Color(slide.foreground),
        pygame.Color(slide.accent),
        max(1, min(surface.get_size())),
    )


# -- layouts ---------------------------------------------------------------------------


def picture_area(size: tuple[int, int], slide: Slide) -> pygame.Rect:
    """Where an image or video slide's picture goes: all of it above the caption band."""
    area = pygame.Rect((0, 0), size)
    area.h -= _band(area, slide)
    return area


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


def placeholder(surface: pygame.Surface, area: pygame.Rect, slide: Slide) -> None:
    """The neutral "picture missing" frame in `slide`'s colours: never a black hole."""
    _placeholder(surface, area, _look(surface, slide))


def _band(area: pygame.Rect, slide: Slide) -> int:
    """Height of the caption band under an image or video (0 without title and body)."""
    if not (slide.title or slide.body):
        return 0
    return int(area.h * (0.22 if slide.body else 0.15) * (0.8 if area.h > area.w else 1))


def _caption(surface: pygame.Surface, slide: Slide, look: _Look, top: int | None = None) -> None:
    """Title and body in the band under the picture (from `top`, else at the bottom)."""
    area = surface.get_rect()
    band = _band(area, slide)
    if not band:
        return
    pad = look.px(0.025)
    y = area.bottom - band if top is None else top
    caption = pygame.Rect(area.x, y, area.w, band).inflate(-2 * pad, -2 * pad)
    _title_body(surface, caption, slide, look, color=look.foreground, align="center", rule=False)


def _image_slide(surface: pygame.Surface, slide: Slide, image_for: ImageFor, look: _Look) -> None:
    """The image letterboxed ("fit") or cropped to cover ("fill") above its caption.

    A letterboxed image and its caption are centred as a pair, so a portrait screen
    keeps them together.
    """
    area = surface.get_rect()
    band = _band(area, slide)
    picture = picture_area(area.size, slide)
    image = _usable(image_for(slide.image) if slide.image else None)
    if image is None:
        _placeholder(surface, picture, look)
        _caption(surface, slide, look)
        return
    if slide.fit == "fill":
        rect = fitted_rect(image.get_size(), picture, "fill")
        scale = rect.w / image.get_width()
        seen = pygame.Rect(  # the part of the image that lands on the picture area
            round((picture.x - rect.x) / scale),
            round((picture.y - rect.y) / scale),
            round(picture.w / scale),
            round(picture.h / scale),
        ).clip(image.get_rect())
        if seen.w and seen.h:
            _scale_into(surface, image.subsurface(seen), picture)
        _caption(surface, slide, look)
        return
    rect = fitted_rect(image.get_size(), picture, "fit")
    rect.y = area.y + (area.h - rect.h - band) // 2
    _scale_into(surface, image, rect)
    _caption(surface, slide, look, top=rect.bottom)


def _scale_into(surface: pygame.Surface, image: pygame.Surface, rect: pygame.Rect) -> None:
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


def _coupon_slide(
    surface: pygame.Surface,
    slide: Slide,
    image_for: ImageFor,
    look: _Look,
    keep_clear: pygame.Rect | None = None,
) -> None:
    """An accent-coloured card: text and a big code, beside (or above) the QR and image.

    The QR and image cells stay out of `keep_clear`; the text never reaches it on
    a check-in corner (it is left of, or above, the cells).
    """
    card = surface.get_rect().inflate(-2 * look.px(0.04), -2 * look.px(0.04))
    pygame.draw.rect(surface, look.accent, card, border_radius=look.px(0.04))
    ink = _ink_on(look.accent, look.background, look.foreground)
    pad = look.px(0.05)
    inner = card.inflate(-2 * pad, -2 * pad)
    cells: list[Callable[[pygame.Rect], None]] = []
    if slide.qr_url:
        cells.append(lambda cell: _qr(surface, cell, slide.qr_url or "", look))
    if slide.image:
        cells.append(lambda cell: _picture(surface, cell, slide.image, image_for, look))
    portrait = inner.h > inner.w
    text_area = inner.copy()
    if cells:
        if portrait:
            side = pygame.Rect(inner.x, 0, inner.w, int(min(inner.w / len(cells), inner.h * 0.4)))
            side.bottom = inner.bottom
            text_area.h -= side.h + pad
        else:
            side = pygame.Rect(0, inner.y, int(min(inner.h, inner.w * 0.4)), inner.h)
            side.right = inner.right
            text_area.w -= side.w + pad
        if keep_clear is not None:
            side = _avoid(side, keep_clear, len(cells), pad, across=portrait)
        for cell, draw_cell in zip(
            _split(side, len(cells), pad, across=portrait), cells, strict=True
        ):
            draw_cell(cell)
    align: text.Align = "center" if portrait else "left"
    if slide.code:
        code_box = pygame.Rect(text_area.x, 0, text_area.w, int(text_area.h * 0.26))
        code_box.bottom = text_area.bottom
        text_area.h -= code_box.h + pad
        pygame.draw.rect(surface, look.background, code_box, border_radius=look.px(0.025))
        room = code_box.inflate(-2 * look.px(0.03), -2 * look.px(0.02))
        fitted = text.fit(
            slide.code,
            room.w,
            room.h,
            max_size=look.px(0.2),
            min_size=look.px(0.04, 8),
            max_lines=1,
        )
        text.draw(
            surface,
            fitted,
            room.x,
            room.centery - fitted.height // 2,
            width=room.w,
            color=look.foreground,
        )
    _title_body(surface, text_area, slide, look, color=ink, align=align, rule=False)


def _qr_slide(surface: pygame.Surface, inner: pygame.Rect, slide: Slide, look: _Look) -> None:
    """A big QR code as the call to action, with title and body beside or below it."""
    gap = look.px(0.05)
    if inner.h > inner.w:
        cell = pygame.Rect(inner.x, inner.y, inner.w, int(min(inner.w, inner.h * 0.58)))
        rest = pygame.Rect(inner.x, cell.bottom + gap, inner.w, inner.bottom - cell.bottom - gap)
        align: text.Align = "center"
    else:
        cell = pygame.Rect(inner.x, inner.y, int(min(inner.h, inner.w * 0.5)), inner.h)
        rest = pygame.Rect(cell.right + gap, inner.y, inner.right - cell.right - gap, inner.h)
        align = "left"
    _qr(surface, cell, slide.qr_url or "", look)
    _title_body(surface, rest, slide, look, color=look.foreground, align=align)


# -- pieces ----------------------------------------------------------------------------


def _title_body(
    surface: pygame.Surface,
    area: pygame.Rect,
    slide: Slide,
    look: _Look,
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


def _usable(image: pygame.Surface | None) -> pygame.Surface | None:
    """`image` in a depth smoothscale takes (24 or 32 bits), or None if empty."""
    if image is None or min(image.get_size()) == 0:
        return None
    if image.get_bitsize() not in (24, 32):
        converted = pygame.Surface(image.get_size(), pygame.SRCALPHA, 32)
        converted.blit(image, (0, 0))
        image = converted
    return image


def _scaled(name: str | None, image_for: ImageFor, size: tuple[int, int]) -> pygame.Surface | None:
    """The named image smooth-scaled to fit `size` keeping its aspect, or None if missing."""
    image = _usable(image_for(name) if name else None)
    if image is None or min(size) <= 0:
        return None
    rect = fitted_rect(image.get_size(), pygame.Rect((0, 0), size), "fit")
    return pygame.transform.smoothscale(image, rect.size)


def _picture(
    surface: pygame.Surface, area: pygame.Rect, name: str | None, image_for: ImageFor, look: _Look
) -> None:
    """The named image letterboxed in `area`, or a placeholder if it is missing."""
    scaled = _scaled(name, image_for, area.size)
    if scaled is None:
        _placeholder(surface, area, look)
    else:
        surface.blit(scaled, scaled.get_rect(center=area.center))


def _placeholder(surface: pygame.Surface, area: pygame.Rect, look: _Look) -> None:
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


def _qr(surface: pygame.Surface, cell: pygame.Rect, data: str, look: _Look) -> None:
    """A QR code centred in `cell`, as large as fits with whole-pixel modules."""
    try:
        code = qr_surface(data, min(cell.w, cell.h))
    except ContentRejected:
        _placeholder(surface, cell, look)
        return
    surface.blit(code, code.get_rect(center=cell.center))


def _badge(surface: pygame.Surface, label: str, look: _Look) -> None:
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


# -- the check-in card -----------------------------------------------------------------


def checkin_corner(size: tuple[int, int]) -> pygame.Rect:
    """Where the check-in card goes on a `size` canvas: the bottom-right corner.

    Its size depends only on the canvas, so a new code always covers the old one
    exactly.
    """
    look = _Look(WHITE, INK, INK, max(1, min(size)))
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
    look = _Look(WHITE, INK, INK, max(1, min(size)))
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


# -- helpers ---------------------------------------------------------------------------


def _avoid(area: pygame.Rect, keep: pygame.Rect, n: int, gap: int, across: bool) -> pygame.Rect:
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
        first = _split(side, n, gap, across)[0]
        return min(first.w, first.h)

    return max([left, above, right, below], key=cell)


def _split(area: pygame.Rect, n: int, gap: int, across: bool) -> list[pygame.Rect]:
    """`area` cut into `n` equal cells, side by side if `across`, else stacked."""
    if across:
        w = (area.w - gap * (n - 1)) // n
        return [pygame.Rect(area.x + i * (w + gap), area.y, w, area.h) for i in range(n)]
    h = (area.h - gap * (n - 1)) // n
    return [pygame.Rect(area.x, area.y + i * (h + gap), area.w, h) for i in range(n)]


def _luminance(c: pygame.Color) -> float:
    def channel(v: int) -> float:
        s = v / 255
        return s / 12.92 if s <= 0.03928 else float(((s + 0.055) / 1.055) ** 2.4)

    return 0.2126 * channel(c.r) + 0.7152 * channel(c.g) + 0.0722 * channel(c.b)


def _ink_on(paper: pygame.Color, *inks: pygame.Color) -> pygame.Color:
    """The ink with the best WCAG contrast on `paper`, so text on the accent stays legible."""
    lp = _luminance(paper)
    return max(
        inks, key=lambda ink: (max(lp, _luminance(ink)) + 0.05) / (min(lp, _luminance(ink)) + 0.05)
    )
