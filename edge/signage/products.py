"""The product templates: one product (name, price, picture, stock, and a "buy it in the
app" QR code when sold out here), and recommendations (two to four product tiles in a row).

They draw inside the `main` zone they are given (text in its title-safe area) and record
every box in `placed`, like the other templates of edge.signage.painter.
"""

from __future__ import annotations

import pygame

from edge.content.slides import STOCK_SHORT, STOCK_WORDS, Item, ProductSlide, RecommendationsSlide
from edge.signage import text
from edge.signage.layout import safe
from edge.signage.look import (
    BODY,
    DISPLAY,
    GUTTER,
    HEADLINE,
    LABEL,
    MIN_TEXT,
    TITLE,
    Look,
    readable,
)
from edge.signage.pictures import (
    ImageFor,
    draw_picture,
    draw_qr,
    qr_side,
)
from edge.signage.pieces import (
    Part,
    Placed,
    block,
    panel,
    pill_part,
    stack,
    text_part,
    title_body,
)

STOCK_DOTS = {
    "in_stock": pygame.Color(63, 191, 111),
    "low": pygame.Color(242, 160, 60),
    "sold_out": pygame.Color(224, 82, 74),
}
APP_LABEL = "Buy it in the app"


def product_slide(
    surface: pygame.Surface,
    main: pygame.Rect,
    slide: ProductSlide,
    image_for: ImageFor,
    look: Look,
    *,
    placed: Placed,
) -> None:
    """Picture, name, price and stock; sold out here, a "buy it in the app" QR code too."""
    inner = safe(main)
    gap = look.px(0.04)
    portrait = inner.h > inner.w
    qr_url = slide.own_qr()
    sold_out = slide.stock == "sold_out"
    info = inner.copy()
    if qr_url:  # the app link: a column on the right, or a row at the bottom
        if portrait:
            row = pygame.Rect(inner.x, 0, inner.w, int(min(inner.h * 0.24, inner.w * 0.42)))
            row.bottom = inner.bottom
            info.h -= row.h + gap
            _app_code(surface, row, qr_url, slide.app_label, look, placed=placed, beside=True)
        else:
            column = pygame.Rect(0, inner.y, int(min(inner.w * 0.28, inner.h * 0.8)), inner.h)
            column.right = inner.right
            info.w -= column.w + gap
            _app_code(surface, column, qr_url, slide.app_label, look, placed=placed, beside=False)
    if slide.image:
        if portrait:
            cell = pygame.Rect(info.x, info.y, info.w, int(info.h * 0.5))
            info = pygame.Rect(info.x, cell.bottom + gap, info.w, info.bottom - cell.bottom - gap)
        else:
            cell = pygame.Rect(info.x, info.y, int(info.w * 0.48), info.h)
            info = pygame.Rect(cell.right + gap, info.y, info.right - cell.right - gap, info.h)
        draw_picture(surface, cell, slide.image, image_for, look, placed=placed, dim=sold_out)
    align: text.Align = "center" if portrait else "left"
    _product_info(surface, info, slide, look, placed=placed, align=align)


def _product_info(
    surface: pygame.Surface,
    area: pygame.Rect,
    slide: ProductSlide,
    look: Look,
    *,
    placed: Placed,
    align: text.Align,
) -> None:
    """Kicker (title), name, description, price and stock, stacked and centred."""
    if area.w <= 0 or area.h <= 0:
        return
    w, h, px = area.w, area.h, look.px
    kicker = text.fit(slide.title, w, h // 8, max_size=px(LABEL), min_size=px(MIN_TEXT),
                      max_lines=1)  # fmt: skip
    name = text.fit(slide.name, w, h * 3 // 10, max_size=px(HEADLINE), min_size=px(MIN_TEXT),
                    max_lines=3)  # fmt: skip
    body = text.fit(slide.body, w, h // 5, max_size=px(BODY), min_size=px(MIN_TEXT))
    price = text.fit(slide.price, w, h // 5, max_size=px(DISPLAY), min_size=px(MIN_TEXT),
                     max_lines=1, shorten=False)  # fmt: skip
    parts = [
        text_part(surface, kicker, area, look.highlight, placed, align=align),
        text_part(surface, name, area, look.text, placed, align=align),
        text_part(surface, body, area, look.text, placed, align=align),
        text_part(surface, price, area, look.highlight, placed, align=align, role="price"),
        pill_part(
            surface,
            pygame.Rect(area.x, 0, w, h // 8),
            slide.stock_label or STOCK_WORDS[slide.stock],
            look,
            placed=placed,
            paper=look.panel.lerp(look.foreground, 0.08),
            dot=STOCK_DOTS[slide.stock],
            size=LABEL,
            align=align,
        ),
    ]
    stack(parts, area, look.px(GUTTER * 0.7))


def _app_code(
    surface: pygame.Surface,
    area: pygame.Rect,
    url: str,
    label: str,
    look: Look,
    *,
    placed: Placed,
    beside: bool,
) -> None:
    """A sold-out product's "buy it in the app" QR code with its label."""
    gap = look.px(GUTTER * 0.6)
    words = label or APP_LABEL
    if beside:
        side = qr_side(url, min(area.h, area.w // 2))
        cell = pygame.Rect(area.x, area.y + (area.h - side) // 2, side, side)
        draw_qr(surface, cell, url, look, placed=placed)
        rest = pygame.Rect(cell.right + gap, area.y, area.right - cell.right - gap, area.h)
        block(
            surface, rest, words, color=look.text, max_size=TITLE, min_size=MIN_TEXT, look=look,
            placed=placed, align="left", max_lines=3,
        )  # fmt: skip
        return
    label_h = int(area.h * 0.22)
    side = qr_side(url, min(area.w, area.h - label_h - gap))
    top = area.y + (area.h - side - gap - label_h) // 2
    cell = pygame.Rect(area.x + (area.w - side) // 2, top, side, side)
    draw_qr(surface, cell, url, look, placed=placed)
    rest = pygame.Rect(area.x, cell.bottom + gap, area.w, label_h)
    block(
        surface, rest, words, color=look.text, max_size=BODY, min_size=MIN_TEXT, look=look,
        placed=placed, align="center", valign="top", max_lines=3,
    )  # fmt: skip


def recommendations_slide(
    surface: pygame.Surface,
    main: pygame.Rect,
    slide: RecommendationsSlide,
    image_for: ImageFor,
    look: Look,
    *,
    placed: Placed,
) -> None:
    """A heading and two to four product tiles in a row (two rows of two on a narrow
    portrait screen)."""
    inner = safe(main)
    gap = look.px(GUTTER)
    head_h = int(inner.h * 0.16) if slide.title or slide.body else 0
    if head_h:
        title_body(
            surface,
            pygame.Rect(inner.x, inner.y, inner.w, head_h),
            slide.title,
            slide.body,
            look,
            placed=placed,
            color=look.text,
            align="left",
            rule=False,
            title_size=TITLE,
            body_size=BODY,
            valign="top",
        )
    grid = pygame.Rect(inner.x, inner.y + head_h + (gap if head_h else 0), inner.w, 0)
    grid.h = inner.bottom - grid.y
    items = slide.items
    columns = len(items) if grid.w >= grid.h or len(items) <= 2 else 2
    rows = -(-len(items) // columns)
    tile_w = (grid.w - gap * (columns - 1)) // columns
    tile_h = (grid.h - gap * (rows - 1)) // rows
    sizes = _tile_sizes(items, pygame.Rect(0, 0, tile_w, tile_h), look)
    for n, item in enumerate(items):
        r, c = divmod(n, columns)
        tile = pygame.Rect(grid.x + c * (tile_w + gap), grid.y + r * (tile_h + gap), tile_w, tile_h)
        _tile(surface, tile, item, image_for, look, placed=placed, sizes=sizes)


def _tile(
    surface: pygame.Surface,
    tile: pygame.Rect,
    item: Item,
    image_for: ImageFor,
    look: Look,
    *,
    placed: Placed,
    sizes: tuple[int, int],
) -> None:
    """One recommended product: its picture (if it has arrived), name, price, stock.
    `sizes`: the em sizes of names and prices, the same on every tile."""
    panel(surface, tile, look.panel, look)
    inner = tile.inflate(-2 * look.px(0.018), -2 * look.px(0.018))
    gap = look.px(GUTTER * 0.5)
    ink = look.text_on(look.panel)
    name_size, price_size = sizes
    words_h = _tile_words_h(inner, look, sizes)
    picture = pygame.Rect(inner.x, inner.y, inner.w, inner.h - words_h - gap)
    has_picture = False
    if item.image and picture.h > 0:
        has_picture = bool(
            draw_picture(
                surface,
                picture,
                item.image,
                image_for,
                look,
                placed=placed,
                dim=item.stock == "sold_out",
                placeholder=False,  # not arrived yet: drawn without it, never delayed
            ).w
        )
    words = pygame.Rect(inner.x, picture.bottom + gap, inner.w, words_h)
    if not has_picture:
        words = inner
    name = text.fit(item.name, words.w, 2 * text.metrics(name_size)[0], max_size=name_size,
                    min_size=name_size, max_lines=2)  # fmt: skip
    price = text.fit(item.price, words.w, text.metrics(price_size)[0], max_size=price_size,
                     min_size=look.px(MIN_TEXT), max_lines=1, shorten=False)  # fmt: skip
    paper = readable(look.panel, look.accent, ink)
    # fixed slots, so names, prices and stock line up from tile to tile
    name_slot = pygame.Rect(words.x, words.y, words.w, 2 * text.metrics(name_size)[0])
    price_slot = pygame.Rect(words.x, name_slot.bottom + gap, words.w, price.height)
    if not has_picture:  # name, price and stock centred in the tile
        name_slot.y = price_slot.y = 0
        parts = [
            text_part(surface, name, words, ink, placed),
            text_part(surface, price, words, paper, placed, role="price"),
        ]
        if item.stock != "in_stock":
            parts.append(_stock_pill(surface, words, item.stock, look, placed))
        stack(parts, words, gap)
        return
    text_part(surface, name, name_slot, ink, placed)[1](name_slot.bottom - name.height)
    text_part(surface, price, price_slot, paper, placed, role="price")[1](price_slot.y)
    if item.stock != "in_stock":
        stock_slot = pygame.Rect(words.x, price_slot.bottom + gap, words.w, 0)
        stock_slot.h = words.bottom - stock_slot.y
        _, draw = _stock_pill(surface, stock_slot, item.stock, look, placed)
        draw(stock_slot.y)


def _stock_pill(
    surface: pygame.Surface, area: pygame.Rect, stock: str, look: Look, placed: Placed
) -> Part:
    """A tile's short stock label ("Low stock", "Sold out") as a block of its stack."""
    return pill_part(
        surface,
        area,
        STOCK_SHORT[stock],
        look,
        placed=placed,
        paper=look.panel.lerp(look.foreground, 0.12),
        dot=STOCK_DOTS[stock],
        size=MIN_TEXT,
        align="center",
    )


def _tile_words_h(inner: pygame.Rect, look: Look, sizes: tuple[int, int]) -> int:
    """The height under a tile's picture: two lines of name, a price, a stock pill."""
    name_size, price_size = sizes
    gap = look.px(GUTTER * 0.5)
    pill_h = text.metrics(look.px(MIN_TEXT))[0] + 2 * look.px(0.012, 2)
    want = 2 * text.metrics(name_size)[0] + text.metrics(price_size)[0] + pill_h + 2 * gap
    return min(want, inner.h * 3 // 5)


def _tile_sizes(items: list[Item], tile: pygame.Rect, look: Look) -> tuple[int, int]:
    """One name size and one price size for every tile: the largest at which all fit."""
    inner = tile.inflate(-2 * look.px(0.018), -2 * look.px(0.018))
    room = inner.h * 3 // 5
    name_max = min(look.px(BODY), max(1, room // 5))
    price_max = min(look.px(TITLE), max(1, room // 3))
    name = min(
        text.fit(i.name, inner.w, 2 * text.metrics(name_max)[0], max_size=name_max,
                 min_size=look.px(MIN_TEXT), max_lines=2).size
        for i in items
    )  # fmt: skip
    price = min(
        text.fit(i.price, inner.w, text.metrics(price_max)[0], max_size=price_max,
                 min_size=look.px(MIN_TEXT), max_lines=1, shorten=False).size
        for i in items
    )  # fmt: skip
    return name, price
