"""Draws one slide onto a surface of any size and orientation: the slide templates.

`paint(surface, slide, image_for, ...)` fills the surface and returns what it put
where (`Painted`: the zones and every text, picture, QR code, code and price
rectangle), so the layout can be checked without looking at pixels. No display,
clock or files are needed (images come through `image_for`).

Every template works inside the zones of `edge.signage.layout`: content stays in
the `main` zone (text in its title-safe area), a ticker's message in the `band`,
and nothing enters the check-in card's zone. Slides with a QR code of their own
(a coupon with `qr_url`, a `qr` slide, a sold-out product's app link) have no
card: it steps aside, and they get the whole canvas. Sizes come from the type
scale in `look`; colours are checked for contrast there too.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import pygame

from edge.content.slides import (
    CouponSlide,
    ImageSlide,
    ProductSlide,
    QrSlide,
    RecommendationsSlide,
    Slide,
    TickerSlide,
    VideoSlide,
)
from edge.signage.codes import coupon_slide, qr_slide
from edge.signage.layout import Zones, safe, zones
from edge.signage.look import (
    BODY,
    GUTTER,
    HEADLINE,
    HERO,
    LABEL,
    MIN_TEXT,
    SAFE,
    TITLE,
    Look,
    look_for,
    readable,
)
from edge.signage.pictures import (
    ImageFor,
    cover,
    draw_placeholder,
    fitted_rect,
    scale_into,
    usable,
)
from edge.signage.pieces import (
    Placed,
    block,
    draw_badge,
    title_body,
)
from edge.signage.products import product_slide, recommendations_slide

__all__ = [
    "ImageFor",
    "Painted",
    "carries_card",
    "fitted_rect",
    "paint",
    "picture_area",
    "placeholder",
    "slide_zones",
]


@dataclass(slots=True)
class Painted:
    """What `paint` did: the zones it used and what it drew where."""

    zones: Zones
    placed: Placed = field(default_factory=Placed)


def carries_card(slide: Slide) -> bool:
    """Whether the check-in card is shown with `slide`: not when it has a QR code of its own
    (two codes side by side leave shoppers guessing which to scan)."""
    return slide.own_qr() is None


def slide_zones(
    size: tuple[int, int],
    slide: Slide,
    *,
    card: pygame.Rect | None = None,
    ticker: TickerSlide | None = None,
    layout: str | None = None,
) -> Zones:
    """The zones `slide` is painted in on a `size` canvas: `card` is the check-in card's
    zone (ignored for slides with their own QR code), `ticker` the band's ticker."""
    return zones(
        size,
        slide.layout or layout or "default",
        card=card if carries_card(slide) else None,
        ticker=ticker is not None and not isinstance(slide, TickerSlide),
    )


def paint(
    surface: pygame.Surface,
    slide: Slide,
    image_for: ImageFor,
    badge: str | None = None,
    keep_clear: pygame.Rect | None = None,
    *,
    ticker: TickerSlide | None = None,
    turn: int = 0,
    layout: str | None = None,
) -> Painted:
    """Fill `surface` with `slide`; `badge` is a small corner label such as "offline".

    `keep_clear` is the check-in card's zone (`checkin_card.checkin_zone`): nothing
    is drawn in it (a slide with its own QR code has no card and ignores it).
    `ticker`'s message number `turn` runs in the band (all of them in a sidebar);
    `layout` is used when the slide names none.
    """
    size = surface.get_size()
    look = look_for(surface, slide)
    surface.fill(look.background)
    z = slide_zones(size, slide, card=keep_clear, ticker=ticker, layout=layout)
    painted = Painted(z)
    placed = painted.placed
    if z.side is not None:
        side_look = look_for(surface, ticker) if ticker is not None else look
        pygame.draw.rect(surface, side_look.panel, z.side)
    main = z.main
    if isinstance(slide, ImageSlide):
        _image_slide(surface, main, slide, image_for, look, placed=placed)
    elif isinstance(slide, VideoSlide):
        _caption(
            surface, main, slide, look, placed=placed
        )  # the Stage puts frames in picture_area()
    elif isinstance(slide, CouponSlide):
        coupon_slide(surface, main, slide, image_for, look, placed=placed)
    elif isinstance(slide, QrSlide):
        qr_slide(surface, main, slide, look, placed=placed)
    elif isinstance(slide, ProductSlide):
        product_slide(surface, main, slide, image_for, look, placed=placed)
    elif isinstance(slide, RecommendationsSlide):
        recommendations_slide(surface, main, slide, image_for, look, placed=placed)
    elif isinstance(slide, TickerSlide):
        _messages(surface, safe(main), slide.title, slide.messages, look, placed=placed, big=True)
    else:
        title_body(
            surface,
            safe(main),
            slide.title,
            slide.body,
            look,
            placed=placed,
            color=look.text,
            align="center",
            title_size=HERO,
            body_size=TITLE,
        )
    if ticker is not None and z.band is not None:
        _band(surface, z, ticker, turn, placed)
    if badge:
        draw_badge(surface, badge, look, placed=placed)
    return painted


# -- images and video ------------------------------------------------------------------


def _caption_h(area: pygame.Rect, slide: Slide) -> int:
    """Height of the caption band under an image or video (0 without title and body)."""
    if not (slide.title or slide.body):
        return 0
    portrait = area.h > area.w
    return int(area.h * (0.24 if slide.body else 0.16) * (0.75 if portrait else 1))


def picture_area(
    size: tuple[int, int],
    slide: Slide,
    *,
    card: pygame.Rect | None = None,
    ticker: TickerSlide | None = None,
    layout: str | None = None,
) -> pygame.Rect:
    """Where an image or video slide's picture goes: the main zone above the caption."""
    main = slide_zones(size, slide, card=card, ticker=ticker, layout=layout).main
    return _picture(main, slide)


def _picture(main: pygame.Rect, slide: Slide) -> pygame.Rect:
    """The room above the caption (whose text keeps to the title-safe area).

    A covering ("fill") picture bleeds to the main zone's edges; a letterboxed one keeps
    to the title-safe area like text, so it never touches one edge of the screen while
    keeping a margin from the others.
    """
    inner = safe(main)
    bleeds = isinstance(slide, ImageSlide | VideoSlide) and slide.fit == "fill"
    area = main.copy() if bleeds else inner.copy()
    band = _caption_h(main, slide)
    if band:
        area.h = max(0, inner.bottom - band - area.y)
    return area


def placeholder(surface: pygame.Surface, area: pygame.Rect, slide: Slide) -> None:
    """The neutral "picture missing" frame in `slide`'s colours: never a black hole."""
    draw_placeholder(surface, area, look_for(surface, slide))


def _caption(
    surface: pygame.Surface,
    main: pygame.Rect,
    slide: Slide,
    look: Look,
    *,
    placed: Placed,
    top: int | None = None,
) -> None:
    """Title and body in the band under the picture (from `top`, else at the bottom)."""
    band = _caption_h(main, slide)
    if not band:
        return
    inner = safe(main)  # the caption stays in the main zone's title-safe area
    y = inner.bottom - band if top is None else min(top, inner.bottom - band)
    caption = pygame.Rect(inner.x, y, inner.w, band).clip(inner)
    caption.inflate_ip(0, -look.px(0.02))
    title_body(
        surface,
        caption,
        slide.title,
        slide.body,
        look,
        placed=placed,
        color=look.text,
        align="center",
        rule=False,
        title_size=TITLE,
        body_size=BODY,
    )


def _image_slide(
    surface: pygame.Surface,
    main: pygame.Rect,
    slide: ImageSlide,
    image_for: ImageFor,
    look: Look,
    *,
    placed: Placed,
) -> None:
    """The image letterboxed ("fit") or cropped to cover ("fill") above its caption.

    A letterboxed image and its caption are centred as a pair, so a portrait screen
    keeps them together.
    """
    band = _caption_h(main, slide)
    picture = _picture(main, slide)
    image = usable(image_for(slide.image))
    if image is None:
        draw_placeholder(surface, picture, look)
        placed.add("image", picture)
        _caption(surface, main, slide, look, placed=placed)
        return
    if slide.fit == "fill":
        cover(surface, image, picture)
        placed.add("image", picture)
        _caption(surface, main, slide, look, placed=placed)
        return
    rect = fitted_rect(image.get_size(), picture, "fit")
    rect.y = max(picture.y, min(main.y + (main.h - rect.h - band) // 2, picture.bottom - rect.h))
    scale_into(surface, image, rect)
    placed.add("image", rect)
    _caption(surface, main, slide, look, placed=placed, top=rect.bottom)


# -- tickers ------------------------------------------------------------------------------


def _band(
    surface: pygame.Surface, z: Zones, ticker: TickerSlide, turn: int, placed: Placed
) -> None:
    """The ticker's band: one message per turn (default layout), or all (sidebar)."""
    band = z.band
    assert band is not None
    look = look_for(surface, ticker)
    paper = look.background.lerp(look.foreground, 0.1)
    if z.side is None:
        pygame.draw.rect(surface, paper, band)
        pygame.draw.rect(surface, look.accent, (band.x, band.y, band.w, look.px(0.006, 2)))
    else:
        paper = look.panel  # the side panel, painted in the ticker's colours
    room = safe(band)
    if z.side is None:  # the bottom band: the screen's margin, card or not, so the message
        margin = round(z.canvas.w * SAFE)  # stays put from one slide to the next
        room = pygame.Rect(band.x + margin, room.y, max(0, room.right - band.x - margin), room.h)
    messages = ticker.messages
    colour = readable(paper, look.foreground, look.background)
    if z.side is not None:
        _messages(
            surface, room, ticker.title, messages, look, placed=placed, big=False, color=colour
        )
        return
    message = messages[turn % len(messages)]
    mark = look.px(0.018)
    tag = pygame.Rect(room.x, room.centery - mark // 2, mark, mark)
    pygame.draw.rect(surface, look.accent, tag, border_radius=max(1, mark // 4))
    rest = pygame.Rect(tag.right + mark, room.y, room.right - tag.right - mark, room.h)
    block(
        surface, rest, message, color=colour, max_size=LABEL * 1.2, min_size=MIN_TEXT * 0.8,
        look=look, placed=placed, align="left", max_lines=1 if band.h < band.w / 4 else 3,
    )  # fmt: skip


def _messages(
    surface: pygame.Surface,
    area: pygame.Rect,
    title: str,
    messages: list[str],
    look: Look,
    *,
    placed: Placed,
    big: bool,
    color: pygame.Color | None = None,
) -> None:
    """A ticker's messages as a list (a ticker shown as a slide, or in a sidebar)."""
    if area.w <= 0 or area.h <= 0:
        return
    colour = color or look.text
    gap = look.px(GUTTER)
    top = area.y
    if title:
        head = block(
            surface, pygame.Rect(area.x, area.y, area.w, int(area.h * 0.25)), title,
            color=look.highlight, max_size=HEADLINE if big else LABEL, min_size=MIN_TEXT,
            look=look, placed=placed, align="left", valign="top", max_lines=2,
        )  # fmt: skip
        top = head.bottom + gap if head.h else area.y
    rest = pygame.Rect(area.x, top, area.w, area.bottom - top)
    block(
        surface, rest, "\n\n".join(messages), color=colour, max_size=TITLE if big else LABEL,
        min_size=MIN_TEXT * (1 if big else 0.8), look=look, placed=placed, align="left",
        valign="center" if big else "top",
    )  # fmt: skip
