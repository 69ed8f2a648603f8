"""The templates of slides that carry a code: a coupon (its code, and its own QR code and
picture beside it) and a `qr` slide (a big QR code as the call to action).

A slide with a QR code of its own gets the whole canvas: the check-in card steps aside
for it (one code on screen at a time), so these draw in the `main` zone they are given.
"""

from __future__ import annotations

from collections.abc import Callable

import pygame

from edge.content.slides import CouponSlide, QrSlide
from edge.signage import text
from edge.signage.layout import safe
from edge.signage.look import DISPLAY, GUTTER, MARGIN, MIN_TEXT, Look, readable
from edge.signage.pictures import (
    ImageFor,
    draw_picture,
    draw_qr,
)
from edge.signage.pieces import (
    Placed,
    block,
    panel,
    split_cells,
    title_body,
)


def coupon_slide(
    surface: pygame.Surface,
    main: pygame.Rect,
    slide: CouponSlide,
    image_for: ImageFor,
    look: Look,
    *,
    placed: Placed,
) -> None:
    """An accent-coloured card: text and a big code, beside (or above) the QR and image."""
    card = main.inflate(-2 * look.px(MARGIN), -2 * look.px(MARGIN))
    panel(surface, card, look.accent, look)
    ink = look.text_on(look.accent)
    inner = safe(card)
    gap = look.px(GUTTER)
    cells: list[Callable[[pygame.Rect], object]] = []
    qr_url, image = slide.qr_url, slide.image
    if qr_url:
        cells.append(lambda cell: draw_qr(surface, cell, qr_url, look, placed=placed))
    if image:
        cells.append(
            lambda cell: draw_picture(surface, cell, image, image_for, look, placed=placed)
        )
    portrait = inner.h > inner.w
    text_area = inner.copy()
    if cells:
        if portrait:
            side = pygame.Rect(inner.x, 0, inner.w, int(min(inner.w / len(cells), inner.h * 0.4)))
            side.bottom = inner.bottom
            text_area.h -= side.h + gap
        else:
            side = pygame.Rect(0, inner.y, int(min(inner.h, inner.w * 0.4)), inner.h)
            side.right = inner.right
            text_area.w -= side.w + gap
        for cell, draw_cell in zip(
            split_cells(side, len(cells), gap, across=portrait), cells, strict=True
        ):
            draw_cell(cell)
    align: text.Align = "center" if portrait else "left"
    if slide.code:
        code_box = pygame.Rect(text_area.x, 0, text_area.w, int(text_area.h * 0.3))
        code_box.bottom = text_area.bottom
        text_area.h -= code_box.h + gap
        paper = look.background
        pygame.draw.rect(surface, paper, code_box, border_radius=look.px(0.015))
        room = code_box.inflate(-2 * look.px(0.03), -2 * look.px(0.015))
        block(
            surface,
            room,
            slide.code,
            color=readable(paper, look.foreground, look.accent),
            max_size=DISPLAY,
            min_size=MIN_TEXT,
            look=look,
            placed=placed,
            role="code",
            max_lines=1,
            shorten=False,
        )
    title_body(
        surface,
        text_area,
        slide.title,
        slide.body,
        look,
        placed=placed,
        color=ink,
        align=align,
        rule=False,
    )


def qr_slide(
    surface: pygame.Surface, main: pygame.Rect, slide: QrSlide, look: Look, placed: Placed
) -> None:
    """A big QR code as the call to action, with title and body beside or below it."""
    inner = safe(main)
    gap = look.px(0.05)
    if inner.h > inner.w:
        cell = pygame.Rect(inner.x, inner.y, inner.w, int(min(inner.w, inner.h * 0.58)))
        rest = pygame.Rect(inner.x, cell.bottom + gap, inner.w, inner.bottom - cell.bottom - gap)
        align: text.Align = "center"
    else:
        cell = pygame.Rect(inner.x, inner.y, int(min(inner.h, inner.w * 0.5)), inner.h)
        rest = pygame.Rect(cell.right + gap, inner.y, inner.right - cell.right - gap, inner.h)
        align = "left"
    draw_qr(surface, cell, slide.qr_url, look, placed=placed)
    title_body(
        surface, rest, slide.title, slide.body, look, placed=placed, color=look.text, align=align
    )
