"""Rebuild NotoSansJP-Bold-subset.otf from Debian's fonts-noto-cjk (run by hand, not at runtime).

    apt-get download fonts-noto-cjk && dpkg-deb -x fonts-noto-cjk_*.deb src
    pip install fonttools
    python make_subset.py src/usr/share/fonts/opentype/noto/NotoSansCJK-Bold.ttc

Keeps Latin (ASCII, Latin-1, Latin Extended-A, common punctuation), every
character of JIS X 0208 (kana, CJK punctuation and symbols, Greek, Cyrillic,
box drawing, the 2,965 level 1 and 3,390 level 2 kanji), the NEC row 13
symbols stores use (circled numbers, units, ㈱), currency signs, arrows,
half- and full-width forms. Text needing anything else is refused by the
device (`unsupported_glyph`), never drawn as boxes.
"""

from __future__ import annotations

import sys
from pathlib import Path

from fontTools import subset
from fontTools.ttLib import TTCollection

HERE = Path(__file__).resolve().parent
OUT = HERE / "NotoSansJP-Bold-subset.otf"
JP_INDEX = 0  # "Noto Sans CJK JP" in the collection: Japanese glyph forms


def jis_x_0208(rows: range, codec: str = "euc_jp") -> set[int]:
    """Code points of JIS X 0208 rows (1-based ku), decoded through EUC-JP."""
    found = set()
    for ku in rows:
        for ten in range(1, 95):
            try:
                ch = bytes([0xA0 + ku, 0xA0 + ten]).decode(codec)
            except UnicodeDecodeError:
                continue
            if len(ch) == 1:  # a few JIS X 0213 cells are two code points
                found.add(ord(ch))
    return found


def wanted() -> set[int]:
    cps = set(range(0x20, 0x7F)) | set(range(0xA0, 0x180))  # ASCII, Latin-1, Latin Extended-A
    cps |= set(range(0x2010, 0x2028)) | set(range(0x2030, 0x203C)) | {0x2122, 0x2116, 0x2103}
    cps |= set(range(0x20A0, 0x20C0))  # currency signs (euro, won, rupee, ...)
    cps |= set(range(0x2190, 0x2194)) | set(range(0x2460, 0x2474))  # arrows, circled 1-20
    cps |= set(range(0x2160, 0x216A)) | set(range(0x2170, 0x217A))  # Roman numerals
    cps |= {0x25A0, 0x25A1, 0x25B2, 0x25B3, 0x25BC, 0x25BD, 0x25C6, 0x25C7, 0x25CB, 0x25CE}
    cps |= {0x25CF, 0x2605, 0x2606, 0x266A, 0x2713, 0x2714}  # shapes, stars, note, check
    cps |= set(range(0x3000, 0x3040)) | set(range(0x3040, 0x30A0)) | set(range(0x30A0, 0x3100))
    cps |= set(range(0x3231, 0x3233)) | set(range(0x3300, 0x3358))  # ㈱ ㈲, squared units
    cps |= set(range(0xFF01, 0xFFA0)) | set(range(0xFFE0, 0xFFE7))
    cps |= jis_x_0208(range(1, 9))  # symbols, digits, kana, Greek, Cyrillic, box drawing
    cps |= jis_x_0208(range(13, 14), "euc_jis_2004")  # row 13: circled numbers, units
    cps |= jis_x_0208(range(16, 48))  # level 1 kanji
    cps |= jis_x_0208(range(48, 85))  # level 2 kanji
    return cps


def main(source: str) -> None:
    font = TTCollection(source).fonts[JP_INDEX]
    options = subset.Options()
    options.name_IDs = ["*"]
    options.name_languages = ["*"]
    options.notdef_outline = True
    options.layout_features = ["kern", "liga"]  # JP forms are the default: no locl, no vertical
    options.drop_tables += ["vhea", "vmtx", "VORG", "BASE"]  # horizontal text only
    subsetter = subset.Subsetter(options)
    subsetter.populate(unicodes=sorted(wanted()))
    subsetter.subset(font)
    font.save(str(OUT))
    print(f"{OUT.name}: {OUT.stat().st_size / 1e6:.2f} MB, {len(font.getGlyphOrder())} glyphs")


if __name__ == "__main__":
    main(sys.argv[1])
