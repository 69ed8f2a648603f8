"""Word wrapping and shrink-to-fit, so any text from the platform fits any box on any screen."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Literal

import pygame

log = logging.getLogger(__name__)

MAX_CHARS = 2000
"""Longer text can never be legible on a screen; cutting it first bounds the fitting work."""

ELLIPSIS = "..."
"""Three dots: the same in every font."""

Align = Literal["left", "center"]

FONT_PATH = (
    Path(__file__).resolve().parents[2] / "signage_content" / "fonts" / "NotoSansJP-Bold-subset.otf"
)
"""Noto Sans CJK JP Bold, subset to Latin, kana and JIS level 1 kanji (see its README)."""

EM = 0.6875
"""Glyph size per nominal size: what pygame's default font uses, so layouts keep their scale."""

_STEP, _TRIM = 1.3, 0.22
"""Line pitch, and blank space cut off the top of each line, in em: the font's own line
height (1.45 em) leaves room for tall accents that Latin and kana never reach."""

NO_LINE_START = frozenset(
    ",.!?)]}"
    "\u3001\u3002\uff0c\uff0e\u30fb\uff1a\uff1b\uff1f\uff01\u30fc"  # stops, commas, long vowel
    "\u300d\u300f\uff09\u3011\u3015\u3009\u300b\u301f"  # closing brackets and quotes
    "ぁぃぅぇぉっゃゅょゎゕゖァィゥェォッャュョヮヵヶ々"
)
"""Japanese line-breaking rule (kinsoku): these never begin a line."""


WHOLE_WORDS_SCALE = 0.8
"""Text is set up to this much smaller rather than break a word that fits a line."""


@lru_cache(maxsize=1)
def _font_file() -> Path | None:
    try:
        pygame.font.Font(FONT_PATH, 10)
    except (OSError, pygame.error) as exc:
        log.warning("font %s unusable (%s): Japanese text will not render", FONT_PATH, exc)
        return None
    return FONT_PATH


@lru_cache(maxsize=8)  # each size holds a FreeType face (~0.3 MB) and an open file
def _load_font(size: int) -> pygame.font.Font:
    return pygame.font.Font(_font_file(), max(1, round(size * EM)) if _font_file() else size)


def font(size: int) -> pygame.font.Font:
    """The signage font at nominal `size`, cached: loading a face on every paint is slow."""
    if not pygame.font.get_init():
        pygame.font.init()
        _load_font.cache_clear()  # Font objects do not survive a font.quit()
    return _load_font(max(1, size))


def _metrics(size: int) -> tuple[int, int]:
    """(line pitch, top trim) in pixels for nominal `size`."""
    if _font_file() is None:
        return font(size).get_linesize(), 0
    em = max(1, round(max(1, size) * EM))
    return max(1, round(em * _STEP)), round(em * _TRIM)


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


def _breaks_anywhere(word: str) -> bool:
    """Japanese and Chinese run words together: such text may break between any two characters."""
    return any(ord(c) >= 0x2E80 for c in word)


def _cut(word: str, f: pygame.font.Font, width: int) -> int:
    """Where to break `word` to fit `width`, keeping kinsoku (0 if nothing fits)."""
    if f.size(word[:1])[0] > width:
        return 0
    cut = _longest_prefix(word, f, width)
    while 1 < cut < len(word) and word[cut] in NO_LINE_START:
        cut -= 1
    return cut


def wrap(text: str, f: pygame.font.Font, width: int) -> list[str]:
    """Greedy word wrap; keeps explicit line breaks and breaks words wider than a line.

    A Japanese run too long for a line of its own fills the current line and
    breaks between characters, never before closing punctuation or small kana;
    a shorter one moves to the next line whole, as a Latin word does.
    """
    lines: list[str] = []
    for paragraph in _clean(text).splitlines():
        line = ""
        for word in paragraph.split():
            candidate = f"{line} {word}" if line else word
            if f.size(candidate)[0] <= width:
                line = candidate
                continue
            if line and _breaks_anywhere(word) and f.size(word)[0] > width:
                head = f"{line} "
                cut = _cut(head + word, f, width) - len(head)
                lines.append(head + word[:cut] if cut > 0 else line)
                line = word[max(0, cut) :]
            else:
                if line:
                    lines.append(line)
                line = word
            while len(line) > 1 and f.size(line)[0] > width:
                cut = max(1, _cut(line, f, width))
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
    step: int = 0  # pixels from one line to the next (0: the font's line size)
    trim: int = 0  # blank pixels at the top of each rendered line, drawn above y

    @property
    def pitch(self) -> int:
        return self.step or self.font.get_linesize()

    @property
    def height(self) -> int:
        return len(self.lines) * self.pitch


def _fitted(size: int, lines: list[str] | tuple[str, ...]) -> Fitted:
    step, trim = _metrics(size)
    return Fitted(font(size), tuple(lines), step, trim)


@lru_cache(maxsize=512)
def fit(
    text: str, width: int, height: int, *, max_size: int, min_size: int, max_lines: int = 0
) -> Fitted:
    """The largest font size in [min_size, max_size] at which `text` fits the box.

    Cached: the same title and body come back on every coupon, and measuring text
    was the largest part of painting a personal slide (benchmarks/latency.py).

    If it does not fit even at `min_size`, the lines that fit are kept and the last
    one ellipsized. `max_lines` (0 = no limit) caps the line count, e.g. 1 for a code.
    """
    min_size = max(1, min(min_size, max_size))
    text = _clean(text)
    if not text or width <= 0 or height <= 0:
        return _fitted(min_size, ())

    words = text.split()

    def fits(size: int, whole_words: bool = False) -> tuple[bool, list[str]]:
        f = font(size)
        if whole_words and any(f.size(word)[0] > width for word in words):
            return False, []
        lines = wrap(text, f, width)
        ok = len(lines) * _metrics(size)[0] <= height and (not max_lines or len(lines) <= max_lines)
        return ok, lines

    def largest(lo: int, hi: int, whole_words: bool) -> int:
        while lo < hi:  # binary search for the largest size that fits
            mid = (lo + hi + 1) // 2
            if fits(mid, whole_words)[0]:
                lo = mid
            else:
                hi = mid - 1
        return lo

    lo, hi = min_size, max(min_size, max_size)
    ok, lines = fits(lo)
    if ok:
        size = largest(lo, hi, whole_words=False)
        if size > lo and fits(lo, whole_words=True)[0]:
            # unbroken words (and Japanese phrases written between spaces) read better:
            # worth a slightly smaller size, not a much smaller one
            unbroken = largest(lo, size, whole_words=True)
            size = unbroken if unbroken >= WHOLE_WORDS_SCALE * size else size
        return _fitted(size, fits(size)[1])
    f, pitch = font(lo), _metrics(lo)[0]
    keep = min(height // pitch, max_lines or len(lines))
    if keep <= 0:
        return _fitted(lo, ())
    return _fitted(lo, (*lines[: keep - 1], ellipsize(lines[keep - 1], f, width)))


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
    for i, line in enumerate(fitted.lines):
        if not line:
            continue
        image = fitted.font.render(line, True, color)
        left = x + (width - image.get_width()) // 2 if align == "center" else x
        surface.blit(image, (left, y + i * fitted.pitch - fitted.trim))
