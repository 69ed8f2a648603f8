"""Screens that look designed: zones that never overlap, one QR code at a time, legible from 2 m.

Every slide kind is painted at 1920x1080, 1080x1920 and 1280x720 with short, very
long and Japanese text, with the check-in card's zone and a ticker band, and what
the painter says it drew where (`Painted.placed`) is checked; real pixels confirm
it (the card's zone is plain paper before the card goes on, every QR code decodes
with zxing-cpp from a screenshot shrunk to a quarter of its width and height).
Golden screenshots of each template at 1080p (tests/unit/signage/golden/, kept
small) make a layout change a visible diff in review: regenerate them with
`OMO_UPDATE_GOLDEN=1 pytest tests/unit/signage/test_layouts.py`.
"""

from __future__ import annotations

import os

os.environ["SDL_VIDEODRIVER"] = "dummy"
os.environ.setdefault("PYGAME_HIDE_SUPPORT_PROMPT", "1")

import itertools
from pathlib import Path
from typing import Any

import numpy as np
import pygame
import pytest
import zxingcpp

from edge.content.slides import Slide, TickerSlide, make_slide
from edge.signage import painter
from edge.signage.checkin_card import card_geometry, checkin_card, checkin_zone
from edge.signage.glyphs import shipped
from edge.signage.layout import safe
from edge.signage.painter import carries_card, paint
from edge.signage.qr import qr_matrix

ROOT = Path(__file__).resolve().parents[3]
IMAGES = ROOT / "signage_content" / "images"
GOLDEN = Path(__file__).resolve().parent / "golden"
SIZES = [(1920, 1080), (1080, 1920), (1280, 720)]
CHECKIN = "https://checkin.example/c?d=edge-01&n=0f1e2d3c4b5a6978"
SHOP = "https://shop.example/app/p/4901234567894"

TEXTS: dict[str, dict[str, str]] = {
    "short": {"title": "Fresh bread", "body": "Baked this morning.", "name": "Apples"},
    "long": {
        "title": "Fresh from the market, every morning, for every family on the street " * 3,
        "body": "Our growers pick at dawn and we stock the shelves before we open. " * 12,
        "name": "Extra crunchy Fuji apples from Aomori, hand picked and sorted " * 2,
    },
    "japanese": {
        "title": "あなたにおすすめ 本日限りの特別クーポン",
        "body": "レジでこの画面をお見せください。会員様は全品10%オフ、ポイント2倍。",
        "name": "青森県産 ふじりんご",
    },
}


def slide_of(kind: str, words: dict[str, str]) -> Slide:
    title, body, name = words["title"], words["body"], words["name"][:80]
    fields: dict[str, Any] = {"id": kind, "title": title, "body": body}
    if kind == "image":
        fields |= {"kind": "image", "image": "apples.png"}
    elif kind == "video":
        fields |= {"kind": "video", "video": "clip.mp4"}
    elif kind == "coupon":
        fields |= {"kind": "coupon", "code": "FRUIT-2026", "qr_url": SHOP, "image": "apples.png"}
    elif kind == "coupon-plain":
        fields |= {"kind": "coupon", "code": "FRUIT-2026", "image": "bread.png"}
    elif kind == "qr":
        fields |= {"kind": "qr", "qr_url": SHOP}
    elif kind == "product":
        fields |= {"kind": "product", "name": name, "price": "¥1,280", "image": "apples.png",
                   "stock": "low"}  # fmt: skip
    elif kind == "product-sold-out":
        fields |= {"kind": "product", "name": name, "price": "¥1,280", "image": "apples.png",
                   "stock": "sold_out", "app_url": SHOP}  # fmt: skip
    elif kind == "recommendations":
        items = [
            {"name": name, "price": "¥398", "image": "apples.png"},
            {"name": "Sourdough", "price": "¥520", "image": "bread.png", "stock": "low"},
            {"name": "コーヒー豆", "price": "¥1,480", "image": "coffee.png"},
            {"name": "Green tea", "price": "¥860", "stock": "sold_out"},
        ]
        fields |= {"kind": "recommendations", "items": items}
    elif kind == "ticker":
        fields |= {"kind": "ticker", "messages": [title[:140], body[:140]]}
    else:
        fields |= {"kind": "text"}
    return make_slide(**fields)


KINDS = [
    "text",
    "image",
    "video",
    "coupon",
    "coupon-plain",
    "qr",
    "product",
    "product-sold-out",
    "recommendations",
    "ticker",
]
TICKER = make_slide(
    id="band", kind="ticker", messages=["Open 9:00-21:00 every day", "ポイント2倍デー"]
)


def image_for(name: str) -> pygame.Surface | None:
    path = IMAGES / name
    return pygame.image.load(str(path)) if path.is_file() else None


def painted(
    slide: Slide, size: tuple[int, int], layout: str = "default"
) -> tuple[pygame.Surface, painter.Painted]:
    surface = pygame.Surface(size)
    ticker: TickerSlide | None = None if isinstance(slide, TickerSlide) else TICKER
    done = paint(surface, slide, image_for, keep_clear=checkin_zone(size), ticker=ticker,
                 layout=layout)  # fmt: skip
    return surface, done


def with_card(surface: pygame.Surface, slide: Slide) -> pygame.Surface:
    """What the Stage shows: the slide, and the check-in card laid over it (if it has one)."""
    shot = surface.copy()
    if carries_card(slide):
        size = surface.get_size()
        card = checkin_card(size, qr_matrix(CHECKIN, error="l"), "Scan to check in")
        shot.blit(card, card_geometry(size).card)
    return shot


def pixels(surface: pygame.Surface) -> np.ndarray:
    return np.ascontiguousarray(pygame.surfarray.array3d(surface).swapaxes(0, 1))


def quarter(surface: pygame.Surface) -> np.ndarray:
    w, h = surface.get_size()
    return pixels(pygame.transform.smoothscale(surface, (w // 4, h // 4)))


# -- the laid-out boxes never overlap ------------------------------------------------------


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("layout", ["default", "sidebar"])
def test_nothing_overlaps_and_nothing_enters_the_card_zone(kind: str, layout: str) -> None:
    pygame.font.init()  # fonts only: an initialised display would outlive the test
    for size, (words_name, words) in itertools.product(SIZES, TEXTS.items()):
        slide = slide_of(kind, words)
        surface, done = painted(slide, size, layout)
        where = f"{kind} {words_name} {size} {layout}"
        canvas = surface.get_rect()
        boxes = list(done.placed)
        assert boxes, where
        zone = checkin_zone(size)
        for role, rect in boxes:
            assert canvas.contains(rect), (where, role, rect)
            if carries_card(slide):
                assert not rect.colliderect(zone), (where, role, rect, zone)
        for (ra, a), (rb, b) in itertools.combinations(boxes, 2):
            assert not a.colliderect(b), (where, ra, a, rb, b)
        # text sits in its zone's title-safe area
        for role, rect in boxes:
            if role in ("text", "code", "price") and done.zones.main.contains(rect):
                assert safe(done.zones.main).inflate(2, 2).contains(rect), (where, role, rect)
        if carries_card(slide):
            # real pixels: the card's zone holds nothing but plain paper before the card
            area = pygame.surfarray.array3d(surface.subsurface(zone))
            assert (area == area[0, 0]).all(), where


def test_a_slide_with_its_own_code_has_no_card_and_the_whole_canvas() -> None:
    pygame.font.init()  # fonts only: an initialised display would outlive the test
    for kind in ("coupon", "qr", "product-sold-out"):
        slide = slide_of(kind, TEXTS["short"])
        assert slide.own_qr() == SHOP and not carries_card(slide)
        _surface, done = painted(slide, (1920, 1080))
        assert done.zones.card is None
        assert [role for role, _ in done.placed].count("qr") == 1
    plain = slide_of("product", TEXTS["short"])  # in stock: no app code, the card stays
    assert carries_card(plain)


def test_the_tickers_message_stays_put_whether_or_not_the_card_is_beside_it() -> None:
    """Slide after slide the band's message starts at the same place: a slide without the
    card (its own code) widens the band, but not the margin its message keeps."""
    pygame.font.init()  # fonts only: an initialised display would outlive the test
    for size in SIZES:
        starts = set()
        for kind in ("text", "coupon"):  # with the card, without it
            _surface, done = painted(slide_of(kind, TEXTS["short"]), size)
            band = done.zones.band
            assert band is not None
            starts |= {r.x for role, r in done.placed if role == "text" and band.contains(r)}
        assert len(starts) == 1, (size, starts)


# -- one code at a time, legible from 2 m ----------------------------------------------------


@pytest.mark.parametrize("size", SIZES, ids=lambda s: f"{s[0]}x{s[1]}")
def test_every_qr_decodes_from_a_quarter_size_screenshot(size: tuple[int, int]) -> None:
    pygame.font.init()  # fonts only: an initialised display would outlive the test
    for kind in KINDS:
        if kind == "ticker":
            continue
        slide = slide_of(kind, TEXTS["long"])
        surface, _done = painted(slide, size)
        shot = with_card(surface, slide)
        found = sorted(code.text for code in zxingcpp.read_barcodes(quarter(shot)))
        assert found == [slide.own_qr() or CHECKIN], (kind, size, found)  # one, and only one


def test_the_checkin_card_is_legible_from_two_metres() -> None:
    facts = shipped()
    assert facts is not None
    for size, module in [((1920, 1080), 6), ((1080, 1920), 6), ((3840, 2160), 12)]:
        geo = card_geometry(size)
        capitals = geo.label_size * facts.cap_height / facts.units_per_em
        assert geo.module >= module, size
        assert capitals >= 32 * min(size) / 1080 - 0.5, (size, capitals)
        assert geo.module >= 6 or min(size) < 720
    assert card_geometry((1280, 720)).module >= 6  # never under 6 px from 720p up


# -- golden screenshots --------------------------------------------------------------------


@pytest.mark.parametrize("kind", [k for k in KINDS if k != "video"])
def test_golden_screenshot_of_each_template_at_1080p(kind: str) -> None:
    """A template's look is kept in the repository: a change shows as a diff in review."""
    pygame.font.init()  # fonts only: an initialised display would outlive the test
    slide = slide_of(kind, TEXTS["short"] if kind != "recommendations" else TEXTS["japanese"])
    surface, _done = painted(slide, (1920, 1080))
    small = pygame.transform.smoothscale(with_card(surface, slide), (480, 270))
    golden = GOLDEN / f"{kind}.png"
    if os.environ.get("OMO_UPDATE_GOLDEN") or not golden.exists():
        GOLDEN.mkdir(exist_ok=True)
        pygame.image.save(small, str(golden))
        if not os.environ.get("OMO_UPDATE_GOLDEN"):
            pytest.fail(f"{golden} was missing: written, look at it and commit it")
    want = pixels(pygame.image.load(str(golden))).astype(int)
    got = pixels(small).astype(int)
    diff = np.abs(want - got).max(axis=2)
    assert diff.mean() < 2 and (diff > 48).mean() < 0.01, (kind, diff.mean(), (diff > 48).mean())
