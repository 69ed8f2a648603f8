"""Draws one slide onto a surface of any size and orientation: the slide layouts.

No display, clock or files are needed (images come through `image_for`), so every
layout is testable headless. Sizes are proportions of the surface, so the same slide
reads well at 1920x1080 landscape and 1080x1920 portrait. The pieces layouts are
made of are in `pieces`, colours in `look`, the check-in card in `checkin_card`.
"""

from __future__ import annotations

from collections.abc import Callable

import pygame

from edge.content.slides import CouponSlide, ImageSlide, QrSlide, Slide, VideoSlide
from edge.signage import text
from edge.signage.look import Look, ink_on, look_for
from edge.signage.pieces import (
    ImageFor,
    avoid,
    draw_badge,
    draw_picture,
    draw_placeholder,
    draw_qr,
    fitted_rect,
    scale_into,
    split_cells,
    title_body,
    usable,
)

__all__ = ["ImageFor", "fitted_rect", "paint", "picture_area", "placeholder"]


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
    look = look_for(surface, slide)
    surface.fill(look.background)
    inner = box.inflate(-2 * look.px(0.06), -2 * look.px(0.06))
    if isinstance(slide, ImageSlide):
        _image_slide(surface, slide, image_for, look)
    elif isinstance(slide, VideoSlide):
        _caption(surface, slide, look)  # the Stage puts the frames in picture_area()
    elif isinstance(slide, CouponSlide):
        _coupon_slide(surface, slide, image_for, look, keep_clear)
    elif isinstance(slide, QrSlide):
        _qr_slide(surface, inner, slide, look)
    else:
        title_body(surface, inner, slide, look, color=look.foreground, align="center")
    if badge:
        draw_badge(surface, badge, look)


# -- layouts ---------------------------------------------------------------------------


def picture_area(size: tuple[int, int], slide: Slide) -> pygame.Rect:
    """Where an image or video slide's picture goes: all of it above the caption band."""
    area = pygame.Rect((0, 0), size)
    area.h -= _band(area, slide)
    return area


def placeholder(surface: pygame.Surface, area: pygame.Rect, slide: Slide) -> None:
    """The neutral "picture missing" frame in `slide`'s colours: never a black hole."""
    draw_placeholder(surface, area, look_for(surface, slide))


def _band(area: pygame.Rect, slide: Slide) -> int:
    """Height of the caption band under an image or video (0 without title and body)."""
    if not (slide.title or slide.body):
        return 0
    return int(area.h * (0.22 if slide.body else 0.15) * (0.8 if area.h > area.w else 1))


def _caption(surface: pygame.Surface, slide: Slide, look: Look, top: int | None = None) -> None:
    """Title and body in the band under the picture (from `top`, else at the bottom)."""
    area = surface.get_rect()
    band = _band(area, slide)
    if not band:
        return
    pad = look.px(0.025)
    y = area.bottom - band if top is None else top
    caption = pygame.Rect(area.x, y, area.w, band).inflate(-2 * pad, -2 * pad)
    title_body(surface, caption, slide, look, color=look.foreground, align="center", rule=False)


def _image_slide(
    surface: pygame.Surface, slide: ImageSlide, image_for: ImageFor, look: Look
) -> None:
    """The image letterboxed ("fit") or cropped to cover ("fill") above its caption.

    A letterboxed image and its caption are centred as a pair, so a portrait screen
    keeps them together.
    """
    area = surface.get_rect()
    band = _band(area, slide)
    picture = picture_area(area.size, slide)
    image = usable(image_for(slide.image))
    if image is None:
        draw_placeholder(surface, picture, look)
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
            scale_into(surface, image.subsurface(seen), picture)
        _caption(surface, slide, look)
        return
    rect = fitted_rect(image.get_size(), picture, "fit")
    rect.y = area.y + (area.h - rect.h - band) // 2
    scale_into(surface, image, rect)
    _caption(surface, slide, look, top=rect.bottom)


def _coupon_slide(
    surface: pygame.Surface,
    slide: CouponSlide,
    image_for: ImageFor,
    look: Look,
    keep_clear: pygame.Rect | None = None,
) -> None:
    """An accent-coloured card: text and a big code, beside (or above) the QR and image.

    The QR and image cells stay out of `keep_clear`; the text never reaches it on
    a check-in corner (it is left of, or above, the cells).
    """
    card = surface.get_rect().inflate(-2 * look.px(0.04), -2 * look.px(0.04))
    pygame.draw.rect(surface, look.accent, card, border_radius=look.px(0.04))
    ink = ink_on(look.accent, look.background, look.foreground)
    pad = look.px(0.05)
    inner = card.inflate(-2 * pad, -2 * pad)
    cells: list[Callable[[pygame.Rect], None]] = []
    qr_url, image = slide.qr_url, slide.image
    if qr_url:
        cells.append(lambda cell: draw_qr(surface, cell, qr_url, look))
    if image:
        cells.append(lambda cell: draw_picture(surface, cell, image, image_for, look))
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
            side = avoid(side, keep_clear, len(cells), pad, across=portrait)
        for cell, draw_cell in zip(
            split_cells(side, len(cells), pad, across=portrait), cells, strict=True
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
    title_body(surface, text_area, slide, look, color=ink, align=align, rule=False)


def _qr_slide(surface: pygame.Surface, inner: pygame.Rect, slide: QrSlide, look: Look) -> None:
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
    draw_qr(surface, cell, slide.qr_url, look)
    title_body(surface, rest, slide, look, color=look.foreground, align=align)
