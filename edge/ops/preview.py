"""Slides painted exactly as a screen shows them: the device's own Screen, scenes, painter
and check-in card, on SDL's dummy driver, written as PNG files.

A screen turned by `rotation` paints in the orientation viewers see (portrait for
90 and 270), so the PNGs are what a shopper sees, as the `screenshot` command's are.
Every slide but a "qr" one carries the check-in card, here with a sample code.
"""

from __future__ import annotations

import os
import re
import time
from collections.abc import Callable
from functools import lru_cache
from pathlib import Path
from typing import TYPE_CHECKING, Any

from edge.content.slides import Slide, VideoSlide
from edge.ops.content_folder import IMAGES
from edge.ops.content_rules import Content

if TYPE_CHECKING:
    import pygame

    from edge.signage.scenes import Images

SAMPLE_CHECKIN_URL = "https://example.invalid/checkin?d=omo-preview&n=sample-nonce-0000"
"""What the sample check-in card encodes: the shape of a real one (docs/protocol.md)."""

CARD_LABEL = "Scan to check in"
VIDEO_WAIT_S = 5.0


def file_name(slide_id: str, taken: set[str]) -> str:
    """`{slide id}.png`, made safe for a file name, and unique among `taken`."""
    safe = re.sub(r"[^A-Za-z0-9._-]", "_", slide_id)[:100].lstrip(".") or "slide"
    name, n = f"{safe}.png", 2
    while name in taken:
        name, n = f"{safe}-{n}.png", n + 1
    taken.add(name)
    return name


def render(
    content: Content,
    folder: Path,
    out: Path,
    *,
    size: tuple[int, int],
    rotation: int,
    say: Callable[[str], None],
) -> list[Path]:
    """One PNG per playlist slide (then per offer) in `out`; returns the files written."""
    os.environ.setdefault("SDL_VIDEODRIVER", "dummy")
    from edge.signage import png
    from edge.signage.card_overlay import CARDLESS_KINDS
    from edge.signage.checkin_card import checkin_card, checkin_corner
    from edge.signage.qr import qr_matrix
    from edge.signage.scenes import Images
    from edge.signage.screen import Screen

    def resolve(name: str) -> Path | None:
        path = folder / IMAGES / name
        return path if name in content.assets and path.is_file() else None

    out.mkdir(parents=True, exist_ok=True)
    written: list[Path] = []
    taken: set[str] = set()
    slides: list[tuple[str, Slide]] = [(s.id, s) for s in content.playlist]
    slides += [(f"{s.id}-offer-{segment}", s) for segment, s in content.offers.items()]
    with Screen(size[0], size[1], rotation=rotation, headless=True) as screen:
        canvas = screen.canvas
        corner = checkin_corner(canvas.get_size())
        card = checkin_card(canvas.get_size(), qr_matrix(SAMPLE_CHECKIN_URL), CARD_LABEL)
        images = Images(on_error=lambda name, why: say(f"{name}: {why}"))
        for name, slide in slides:
            carded = slide.kind not in CARDLESS_KINDS
            _paint(canvas, slide, resolve, images, keep_clear=corner if carded else None, say=say)
            if carded:
                canvas.blit(card, corner)
            path = out / file_name(name, taken)
            png.save(canvas, path)
            written.append(path)
    return written


def _paint(
    canvas: pygame.Surface,
    slide: Slide,
    resolve: Callable[[str], Path | None],
    images: Images,
    *,
    keep_clear: pygame.Rect | None,
    say: Callable[[str], None],
) -> None:
    """`slide` onto `canvas` as the Stage builds its scene (a video: with its first frame)."""
    from edge.signage.scenes import Scene, VideoScene

    if not isinstance(slide, VideoSlide):
        scene = Scene(slide, canvas.get_size(), resolve, images, keep_clear)
        assert scene.surface is not None
        canvas.blit(scene.surface, (0, 0))
        return
    video = VideoScene(
        slide,
        canvas.get_size(),
        resolve,
        images,
        on_error=lambda name, why: say(f"{name}: {why}"),
        poll_s=0.01,
        corner=keep_clear,
    )
    try:
        deadline = time.monotonic() + VIDEO_WAIT_S
        while not video.ready() and time.monotonic() < deadline:
            time.sleep(0.01)
        assert video.surface is not None
        canvas.blit(video.surface, (0, 0))
        video.begin(time.monotonic())
        video.draw(time.monotonic(), canvas)
    finally:
        video.close()


@lru_cache(maxsize=1)
def _font() -> Any:
    """The screens' font through FreeType, which says which characters it has no glyph for."""
    import pygame.freetype

    from edge.signage.text import FONT_PATH

    pygame.freetype.init()
    return pygame.freetype.Font(str(FONT_PATH), 16)


def missing_glyphs(text: str) -> str:
    """The characters of `text` the screen's font has no glyph for (boxes on a screen)."""
    if not text:
        return ""
    metrics = _font().get_metrics(text)
    gaps = (c for c, m in zip(text, metrics, strict=False) if m is None and c.isprintable())
    return "".join(dict.fromkeys(c for c in gaps if not c.isspace()))
