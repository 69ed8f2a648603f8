"""Painting every slide template, and the 3840x2160 pass the test suite leaves out.

For each slide kind (with long text and the check-in card's zone, a ticker band):
milliseconds to paint it at 3840x2160, against the baseline of the same slides
at 1920x1080 painted in the same process (ratio 4K / 1080p); and at 4K the
layout checks of tests/unit/signage/test_layouts.py: no two boxes overlap,
nothing enters the card's zone, and every QR code decodes from the screenshot
shrunk to a quarter of its width and height (zxing-cpp).

Prints figures, then ONE JSON object on the last line.
"""

from __future__ import annotations

import itertools
import json
import os
import statistics
import time
from pathlib import Path
from typing import Any

os.environ.setdefault("SDL_VIDEODRIVER", "dummy")
os.environ.setdefault("PYGAME_HIDE_SUPPORT_PROMPT", "1")

import numpy as np
import pygame
import zxingcpp

from edge.content.slides import Slide, make_slide
from edge.signage.checkin_card import card_geometry, checkin_card, checkin_zone
from edge.signage.painter import carries_card, paint
from edge.signage.qr import qr_matrix

ROOT = Path(__file__).resolve().parents[1]
IMAGES = ROOT / "signage_content" / "images"
CHECKIN = "https://checkin.example/c?d=edge-01&n=0f1e2d3c4b5a6978"
SHOP = "https://shop.example/app/p/4901234567894"
TITLE = "Fresh from the market, every morning, for every family on the street " * 2
BODY = "Our growers pick at dawn and we stock the shelves before we open. " * 8
ITEMS = [
    {"name": "青森県産 ふじりんご", "price": "¥398", "image": "apples.png"},
    {"name": "Sourdough", "price": "¥520", "image": "bread.png", "stock": "low"},
    {"name": "コーヒー豆", "price": "¥1,480", "image": "coffee.png"},
    {"name": "Green tea", "price": "¥860", "stock": "sold_out"},
]
SLIDES: list[Slide] = [
    make_slide(id="text", kind="text", title=TITLE, body=BODY),
    make_slide(id="image", kind="image", image="apples.png", title=TITLE, body=BODY),
    make_slide(
        id="coupon",
        kind="coupon",
        title=TITLE,
        body=BODY,
        code="FRUIT-2026",
        qr_url=SHOP,
        image="apples.png",
    ),
    make_slide(id="qr", kind="qr", title=TITLE, body=BODY, qr_url=SHOP),
    make_slide(
        id="product",
        kind="product",
        name="Fuji apples",
        price="¥1,280",
        image="apples.png",
        stock="sold_out",
        app_url=SHOP,
        title=TITLE,
    ),
    make_slide(id="recommendations", kind="recommendations", title="あなたにおすすめ", items=ITEMS),
]
TICKER = make_slide(id="band", kind="ticker", messages=["Open 9:00-21:00 every day"])
ROUNDS = 5


def image_for(name: str) -> pygame.Surface | None:
    path = IMAGES / name
    return pygame.image.load(str(path)) if path.is_file() else None


def paint_ms(slide: Slide, size: tuple[int, int]) -> tuple[float, pygame.Surface, Any]:
    """Median ms of ROUNDS paints (text fitting is cached, as on a device after the first)."""
    times, surface, done = [], pygame.Surface(size), None
    for _ in range(ROUNDS):
        start = time.perf_counter()
        done = paint(surface, slide, image_for, keep_clear=checkin_zone(size), ticker=TICKER)
        times.append((time.perf_counter() - start) * 1000)
    return statistics.median(times), surface, done


def checked(slide: Slide, size: tuple[int, int], surface: pygame.Surface, done: Any) -> bool:
    boxes = list(done.placed)
    zone = checkin_zone(size)
    clear = not carries_card(slide) or not any(r.colliderect(zone) for _, r in boxes)
    apart = not any(a.colliderect(b) for (_, a), (_, b) in itertools.combinations(boxes, 2))
    shot = surface.copy()
    if carries_card(slide):
        shot.blit(
            checkin_card(size, qr_matrix(CHECKIN, error="l"), "Scan to check in"),
            card_geometry(size).card,
        )
    small = pygame.transform.smoothscale(shot, (size[0] // 4, size[1] // 4))
    pixels = np.ascontiguousarray(pygame.surfarray.array3d(small).swapaxes(0, 1))
    codes = [c.text for c in zxingcpp.read_barcodes(pixels)]
    return clear and apart and codes == [slide.own_qr() or CHECKIN]


def main() -> None:
    pygame.init()
    figures: dict[str, Any] = {}
    ok = True
    for slide in SLIDES:
        base, _s, _d = paint_ms(slide, (1920, 1080))
        ms, surface, done = paint_ms(slide, (3840, 2160))
        good = checked(slide, (3840, 2160), surface, done)
        ok = ok and good
        figures[f"{slide.id}_1080p_ms"] = round(base, 1)
        figures[f"{slide.id}_4k_ms"] = round(ms, 1)
        print(
            f"{slide.id:16s} 1080p {base:7.1f} ms   4K {ms:7.1f} ms   ratio {ms / base:4.1f}x"
            f"   4K layout {'ok' if good else 'FAILED'}"
        )
    worst = max(v for k, v in figures.items() if k.endswith("_4k_ms"))
    figures["worst_4k_ms"] = worst
    figures["layout_4k_ok"] = ok
    print(f"baseline: the same slides at 1920x1080; worst 4K paint {worst:.1f} ms")
    print(json.dumps(figures, sort_keys=True))


if __name__ == "__main__":
    main()
