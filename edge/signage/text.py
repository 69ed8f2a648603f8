"""Word wrapping and shrink-to-fit, so any text from the platform fits any box on any screen."""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache
from typing import Literal

import pygame

MAX_CHARS = 2000
"""Longer text can never be legible on a screen; cutting it first bounds the fitting work."""

ELLIPSIS = "..."
"""Three dots, because pygame's default font may lack U+2026."""

Align = Literal["left", "center"]


@lru_cache(maxsize=64)
def _load_font(size: int) -> pygame.font.Font:
    return pygame.font.Font(None, size)


def font(size: int) -> pygame.font.Font:
    """pygame's default font at `size` px, cached: loading the TTF on every paint is slow."""
    if not pygame.font.get_init():
        pygame.font.init()
        _load_font.cache_clear()  # Font objects do not survive a font.quit()
    return _load_font(max(1, size))


def _clean(text: str) -> str:
    """Text SDL_ttf can render: no NULs, tabs or lone surrogates; bounded length."""
    text = text[:MAX_CHARS].encode("utf-8", "replace").decode("utf-8")
    return text.replace("\x00", "").replace("\t", " ").strip()


def _longest_prefix(word: str, f: pygame.font.Font, width: int) -> int:
    """How many leading characters of `word` fit in `width` (at least 1, to make progress)."""
    lo, hi = 1, len(word)
    while lo < hi:
        mid = (lo + hi + 1) // 2
        if f.size(word[:mid])[0] <= width:
            lo = mid
        else:
            hi = mid - 1
    return lo


def wrap(text: str, f: pygame.font.Font, width: int) -> list[str]:
    """Greedy word wrap; keeps explicit line breaks and breaks words wider than a line."""
    lines: list[str] = []
    for paragraph in _clean(text).splitlines():
        line = ""
        for word in paragraph.split():
            candidate = f"{line} {word}" if line else word
            if f.size(candidate)[0] <= width:
                line = candidate
                continue
            if line:
                lines.append(line)
            line = word
            while len(line) > 1 and f.size(line)[0] > width:
                cut = _longest_prefix(line, f, width)
                lines.append(line[:cut])
                line = line[cut:]
        lines.append(line)
    return lines


def ellipsize(line: str, f: pygame.font.Font, width: int) -> str:
    """`line` with ELLIPSIS appended, shortened until it fits `width`."""
    while line and f.size(line.rstrip() + ELLIPSIS)[0] > width:
        line = line[:-1]
    return line.rstrip() + ELLIPSIS


@dataclass(frozen=True, slots=True)
class Fitted:
    """Lines of text laid out in one font; `height` is what they occupy."""

    font: pygame.font.Font
    lines: tuple[str, ...]

    @property
    def height(self) -> int:
        return len(self.lines) * self.font.get_linesize()


def fit(
    text: str, width: int, height: int, *, max_size: int, min_size: int, max_lines: int = 0
) -> Fitted:
    """The largest font size in [min_size, max_size] at which `text` fits the box.

    If it does not fit even at `min_size`, the lines that fit are kept and the last
    one ellipsized. `max_lines` (0 = no limit) caps the line count, e.g. 1 for a code.
    """
    min_size = max(1, min(min_size, max_size))
    text = _clean(text)
    if not text or width <= 0 or height <= 0:
        return Fitted(font(min_size), ())

    def fits(size: int) -> tuple[bool, list[str]]:
        f = font(size)
        lines = wrap(text, f, width)
        ok = len(lines) * f.get_linesize() <= height and (not max_lines or len(lines) <= max_lines)
        return ok, lines

    lo, hi = min_size, max(min_size, max_size)
    ok, lines = fits(lo)
    if ok:
        while lo < hi:  # binary search for the largest size that fits
            mid = (lo + hi + 1) // 2
            if fits(mid)[0]:
                lo = mid
            else:
                hi = mid - 1
        return Fitted(font(lo), tuple(fits(lo)[1]))
    f = font(lo)
    keep = min(height // f.get_linesize(), max_lines or len(lines))
    if keep <= 0:
        return Fitted(f, ())
    return Fitted(f, (*lines[: keep - 1], ellipsize(lines[keep - 1], f, width)))


def draw(
    surface: pygame.Surface,
    fitted: Fitted,
    x: int,
    y: int,
    *,
    width: int,
    color: pygame.Color,
    align: Align = "center",
) -> None:
    """Render `fitted` top-down from (x, y), each line aligned within `width`."""
    step = fitted.font.get_linesize()
    for i, line in enumerate(fitted.lines):
        if not line:
            continue
        image = fitted.font.render(line, True, color)
        left = x + (width - image.get_width()) // 2 if align == "center" else x
        surface.blit(image, (left, y + i * step))
