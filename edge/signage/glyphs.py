"""What the shipped font can draw, and how wide text is in it: read from the font file itself.

A small reader of the OpenType `cmap`, `hmtx`, `hhea`, `head` and `OS/2` tables,
in plain Python: no pygame, so it is safe on any thread (the content worker
checks manifests with it while the render thread draws) and needs no display.
Used to refuse text the font cannot draw (`unsupported_glyph`) and to check,
before a manifest or decision is accepted, that a code or price fits its box
at the smallest size the layouts allow.
"""

from __future__ import annotations

import math
import struct
import unicodedata
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

FONT_PATH = (
    Path(__file__).resolve().parents[2] / "signage_content" / "fonts" / "NotoSansJP-Bold-subset.otf"
)
"""Noto Sans CJK JP Bold, subset to Latin, kana and JIS X 0208 levels 1 and 2 (its README)."""

IGNORED = frozenset("\n\r\t\u200b\u200c\u200d\ufeff\ufe0e\ufe0f")
"""Characters that need no glyph: line breaks and tabs (text.py turns them into breaks and
spaces), zero-width joiners and variation selectors (nothing to draw)."""


@dataclass(frozen=True, slots=True)
class FontFacts:
    """The parts of a font file the layouts and the checks need."""

    units_per_em: int
    glyph_of: dict[int, int]  # code point -> glyph id
    advances: tuple[int, ...]  # glyph id -> advance width in font units
    ascender: int
    descender: int  # negative
    cap_height: int

    def covers(self, ch: str) -> bool:
        return ch in IGNORED or ord(ch) in self.glyph_of

    def missing(self, text: str) -> list[str]:
        """The distinct characters of `text` the font has no glyph for, in order of appearance."""
        seen: dict[str, None] = {}
        for ch in text:
            if ch not in seen and not self.covers(ch):
                seen[ch] = None
        return list(seen)

    def advance(self, ch: str) -> int:
        gid = self.glyph_of.get(ord(ch), 0)
        return self.advances[min(gid, len(self.advances) - 1)]

    def width(self, text: str, em_px: int) -> int:
        """An upper bound of `text`'s width in pixels at `em_px` (each advance rounded up;
        kerning, which only narrows, ignored): what fits by this measure fits on screen."""
        scale = em_px / self.units_per_em
        return sum(math.ceil(self.advance(ch) * scale) for ch in text if ch not in IGNORED)


def describe(chars: list[str], limit: int = 5) -> str:
    """`'😀' (U+1F600 GRINNING FACE)` for each of the first `limit` characters."""

    def one(ch: str) -> str:
        name = unicodedata.name(ch, "")
        return f"{ch!r} (U+{ord(ch):04X}{' ' + name if name else ''})"

    more = f" and {len(chars) - limit} more" if len(chars) > limit else ""
    return ", ".join(one(ch) for ch in chars[:limit]) + more


def _tables(data: bytes) -> dict[bytes, tuple[int, int]]:
    (count,) = struct.unpack_from(">H", data, 4)
    found = {}
    for i in range(count):
        tag, _sum, offset, length = struct.unpack_from(">4sIII", data, 12 + 16 * i)
        found[tag] = (offset, length)
    return found


def _cmap(data: bytes, base: int) -> dict[int, int]:
    _version, count = struct.unpack_from(">HH", data, base)
    subtables = {}
    for i in range(count):
        platform, encoding, offset = struct.unpack_from(">HHI", data, base + 4 + 8 * i)
        subtables[(platform, encoding)] = base + offset
    for key in ((3, 10), (0, 6), (0, 4)):  # full repertoire (format 12) first
        at = subtables.get(key)
        if at is not None and struct.unpack_from(">H", data, at)[0] == 12:
            return _format12(data, at)
    for key in ((3, 1), (0, 3), (0, 1), (0, 0)):
        at = subtables.get(key)
        if at is not None and struct.unpack_from(">H", data, at)[0] == 4:
            return _format4(data, at)
    raise ValueError("no Unicode cmap of format 4 or 12")


def _format12(data: bytes, at: int) -> dict[int, int]:
    (groups,) = struct.unpack_from(">I", data, at + 12)
    glyph_of = {}
    for i in range(groups):
        start, end, glyph = struct.unpack_from(">III", data, at + 16 + 12 * i)
        for cp in range(start, end + 1):
            glyph_of[cp] = glyph + cp - start
    return glyph_of


def _format4(data: bytes, at: int) -> dict[int, int]:
    (seg_x2,) = struct.unpack_from(">H", data, at + 6)
    n = seg_x2 // 2
    ends = struct.unpack_from(f">{n}H", data, at + 14)
    starts = struct.unpack_from(f">{n}H", data, at + 16 + seg_x2)
    deltas = struct.unpack_from(f">{n}h", data, at + 16 + 2 * seg_x2)
    range_at = at + 16 + 3 * seg_x2
    offsets = struct.unpack_from(f">{n}H", data, range_at)
    glyph_of = {}
    for i in range(n):
        for cp in range(starts[i], ends[i] + 1):
            if cp == 0xFFFF:
                continue
            if offsets[i] == 0:
                glyph = (cp + deltas[i]) & 0xFFFF
            else:
                where = range_at + 2 * i + offsets[i] + 2 * (cp - starts[i])
                (glyph,) = struct.unpack_from(">H", data, where)
                glyph = (glyph + deltas[i]) & 0xFFFF if glyph else 0
            if glyph:
                glyph_of[cp] = glyph
    return glyph_of


def read_font(path: Path) -> FontFacts:
    """The FontFacts of an OpenType (CFF or TrueType outline) font file."""
    data = path.read_bytes()
    tables = _tables(data)
    head, hhea, hmtx = tables[b"head"][0], tables[b"hhea"][0], tables[b"hmtx"][0]
    (units_per_em,) = struct.unpack_from(">H", data, head + 18)
    ascender, descender = struct.unpack_from(">hh", data, hhea + 4)
    (metrics,) = struct.unpack_from(">H", data, hhea + 34)
    advances = tuple(struct.unpack_from(f">{2 * metrics}H", data, hmtx)[0::2])
    cap_height = round(units_per_em * 0.73)
    os2 = tables.get(b"OS/2")
    if os2 is not None and struct.unpack_from(">H", data, os2[0])[0] >= 2:
        (cap_height,) = struct.unpack_from(">h", data, os2[0] + 88)
    return FontFacts(
        units_per_em=units_per_em,
        glyph_of=_cmap(data, tables[b"cmap"][0]),
        advances=advances,
        ascender=ascender,
        descender=descender,
        cap_height=cap_height,
    )


@lru_cache(maxsize=1)
def shipped() -> FontFacts | None:
    """The shipped font's facts (None if the file is missing or unreadable)."""
    try:
        return read_font(FONT_PATH)
    except (OSError, ValueError, KeyError, struct.error):
        return None
