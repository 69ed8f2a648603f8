"""Text fitted to a box: wrapped by words (by characters for Japanese), shrunk, then ellipsised.

Sizes are em sizes in pixels. `fit` finds the largest size between a maximum and a
minimum at which the text fits its box; below the minimum it keeps the lines that
fit and ends the last with an ellipsis, unless told never to shorten (codes and
prices: they shrink further instead, and `Fitted.shrunk` says so). A fitted block
never reaches outside its box: every line is at most the box's width, and the
lines' ink lies within their pitch. Characters the font cannot draw are left out
(the checks in edge.content.legible refuse such text before it gets here).
"""

from __future__ import annotations

import logging
import math
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Literal

import pygame

from edge.signage import glyphs

log = logging.getLogger(__name__)

MAX_CHARS = 2000
"""Longer text can never be legible on a screen; cutting it first bounds the fitting work."""

ELLIPSIS = "\u2026"
"""One character, in the font (a Japanese ellipsis sits on the same line)."""

Align = Literal["left", "center", "right"]

FONT_PATH = glyphs.FONT_PATH

STEP, TRIM = 1.35, 0.14
"""Line pitch, and blank space cut off the top of each line, in em: the font's own line
height (1.45 em) has room above Å and É that no glyph uses; with these the ink of any
line (Å to Ç, 漢 to 「」) stays within its pitch from 20 px up."""

NO_LINE_START = frozenset(
    ",.!?)]}"
    "\u3001\u3002\uff0c\uff0e\u30fb\uff1a\uff1b\uff1f\uff01\u30fc\u2026"  # stops, commas, ー, …
    "\u300d\u300f\uff09\u3011\u3015\u3009\u300b\u301f"  # closing brackets and quotes
    "ぁぃぅぇぉっゃゅょゎゕゖァィゥェォッャュョヮヵヶ々"
)
"""Japanese line-breaking rule (kinsoku): these never begin a line."""

WHOLE_WORDS_SCALE = 0.8
"""Text is set up to this much smaller rather than break a word that fits a line."""


@lru_cache(maxsize=1)
def _font_file() -> Path | None:
    """The shipped font, or None if it cannot be opened (asked once: the answer is cached,
    so the font module is started first rather than blamed for being stopped)."""
    if not pygame.font.get_init():
        pygame.font.init()
    try:
        pygame.font.Font(FONT_PATH, 10)
    except (OSError, pygame.error) as exc:
        log.warning("font %s unusable (%s): Japanese text will not render", FONT_PATH, exc)
        return None
    return FONT_PATH


@lru_cache(maxsize=16)  # each size holds a FreeType face (~0.3 MB) and an open file
def _load_font(size: int) -> pygame.font.Font:
    return pygame.font.Font(_font_file(), size)


def font(size: int) -> pygame.font.Font:
    """The signage font at em size `size` px, cached: loading a face per paint is slow."""
    if not pygame.font.get_init():
        pygame.font.init()
        _load_font.cache_clear()  # Font objects do not survive a font.quit()
    return _load_font(max(1, size))


def metrics(size: int) -> tuple[int, int]:
    """(line pitch, top trim) in pixels for em size `size`."""
    if _font_file() is None:
        return font(size).get_linesize(), 0
    em = max(1, size)
    return max(1, math.ceil(em * STEP)), int(em * TRIM)


def clean(text: str) -> str:
    """Text the font can draw: no NULs, tabs, lone surrogates or characters it lacks."""
    text = text[:MAX_CHARS].encode("utf-8", "replace").decode("utf-8")
    text = text.replace("\x00", "").replace("\t", " ")
    facts = glyphs.shipped()
    if facts is not None and _font_file() is not None:
        text = "".join(ch for ch in text if facts.covers(ch))
    return text.strip()


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
    for paragraph in clean(text).splitlines():
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
    """`line` with ELLIPSIS appended, shortened until it fits `width` ("" if even that
    does not fit)."""
    while line and f.size(line.rstrip() + ELLIPSIS)[0] > width:
        line = line[:-1]
    out = line.rstrip() + ELLIPSIS
    return out if f.size(out)[0] <= width else ""


@dataclass(frozen=True, slots=True)
class Fitted:
    """Lines of text laid out in one font; `height` is what they occupy."""

    font: pygame.font.Font
    lines: tuple[str, ...]
    step: int = 0  # pixels from one line to the next (0: the font's line size)
    trim: int = 0  # blank pixels at the top of each rendered line, drawn above y
    size: int = 0  # the em size in pixels
    shortened: bool = False  # lines were dropped or ellipsised
    shrunk: bool = False  # set below the minimum size (never-shorten text only)

    @property
    def pitch(self) -> int:
        return self.step or self.font.get_linesize()

    @property
    def height(self) -> int:
        return len(self.lines) * self.pitch

    @property
    def width(self) -> int:
        """The widest line, in pixels."""
        return max((self.font.size(line)[0] for line in self.lines), default=0)


def _fitted(size: int, lines: list[str] | tuple[str, ...], **flags: bool) -> Fitted:
    step, trim = metrics(size)
    return Fitted(font(size), tuple(lines), step, trim, size, **flags)


@lru_cache(maxsize=1024)
def fit(
    text: str,
    width: int,
    height: int,
    *,
    max_size: int,
    min_size: int,
    max_lines: int = 0,
    shorten: bool = True,
) -> Fitted:
    """The largest em size in [min_size, max_size] at which `text` fits the box.

    Cached: the same title and body come back on every coupon, and measuring text
    was the largest part of painting a personal slide (benchmarks/latency.py).

    If it does not fit even at `min_size`, the lines that fit are kept and the last
    one ellipsized; with `shorten=False` (codes, prices) the text shrinks below
    `min_size` instead, whole (`shrunk`). `max_lines` (0 = no limit) caps the lines.
    """
    min_size = max(1, min(min_size, max_size))
    text = clean(text)
    if not text or width <= 0 or height <= 0:
        return _fitted(min_size, ())

    words = text.split()

    def fits(size: int, whole_words: bool = False) -> tuple[bool, list[str]]:
        f = font(size)
        if whole_words and any(f.size(word)[0] > width for word in words):
            return False, []
        lines = wrap(text, f, width)
        ok = (
            len(lines) * metrics(size)[0] <= height
            and (not max_lines or len(lines) <= max_lines)
            and all(f.size(line)[0] <= width for line in lines)
        )
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
        return _fitted(size, _balanced(text, font(size), width, fits(size)[1]))
    if not shorten:
        for size in range(lo - 1, 0, -1):  # rare: a code longer than the checks allow
            ok, lines = fits(size)
            if ok:
                return _fitted(size, lines, shrunk=True)
        return _fitted(1, (), shortened=True, shrunk=True)
    f, pitch = font(lo), metrics(lo)[0]
    keep = min(height // pitch, max_lines or len(lines), len(lines))
    lines = [line for line in lines[:keep] if f.size(line)[0] <= width]
    if not lines:
        return _fitted(lo, (), shortened=True)
    return _fitted(lo, (*lines[:-1], ellipsize(lines[-1], f, width)), shortened=True)


BALANCE_LINES = 4
"""Up to this many lines are balanced, as a typesetter breaks a heading: "Welcome to our /
store" is set "Welcome to / our store", lines of even length, no word left alone."""


def _balanced(text: str, f: pygame.font.Font, width: int, lines: list[str]) -> list[str]:
    """`lines` re-broken at the narrowest width that keeps their number: no short last line."""
    n = len(lines)
    if not 2 <= n <= BALANCE_LINES or any(not line for line in lines):
        return lines
    words = " ".join(clean(text).split())
    whole = " ".join(lines) == words  # no word broken: keep it so

    def ok(w: int) -> bool:
        again = wrap(text, f, w)
        return len(again) <= n and (not whole or " ".join(again) == words)

    lo, hi = max(1, width // n), width
    while lo < hi:
        mid = (lo + hi) // 2
        if ok(mid):
            hi = mid
        else:
            lo = mid + 1
    again = wrap(text, f, lo)
    return again if len(again) == n and ok(lo) else lines


def visible(font: pygame.font.Font, line: str) -> bool:
    """Whether `line` has any width: pygame refuses to render one that has none (e.g. only
    a soft hyphen or a zero-width space), and there is nothing to draw anyway."""
    return bool(line) and font.size(line)[0] > 0


def draw(
    surface: pygame.Surface,
    fitted: Fitted,
    x: int,
    y: int,
    *,
    width: int,
    color: pygame.Color,
    align: Align = "center",
) -> pygame.Rect:
    """Render `fitted` top-down from (x, y), each line aligned within `width`; returns the
    rectangle the lines occupy (their widths, their pitch)."""
    drawn = pygame.Rect(x, y, 0, 0)
    for i, line in enumerate(fitted.lines):
        if not visible(fitted.font, line):
            continue
        image = fitted.font.render(line, True, color)
        w = image.get_width()
        left = {"center": x + (width - w) // 2, "right": x + width - w}.get(align, x)
        surface.blit(image, (left, y + i * fitted.pitch - fitted.trim))
        row = pygame.Rect(left, y + i * fitted.pitch, w, fitted.pitch)
        drawn = row if not drawn.w else drawn.union(row)
    return drawn


def block(fitted: Fitted, x: int, y: int, width: int, align: Align = "center") -> pygame.Rect:
    """Where `draw` would put `fitted` (without drawing it)."""
    if not fitted.lines:
        return pygame.Rect(x, y, 0, 0)
    w = fitted.width
    left = {"center": x + (width - w) // 2, "right": x + width - w}.get(align, x)
    return pygame.Rect(left, y, w, fitted.height)
