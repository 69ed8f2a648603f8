"""The one PNG writer for every screenshot: RGB pixels in, PNG bytes out (zlib, no filters).

pygame's own writer holds the GIL for the whole encode (~100 ms for a full-HD
frame); zlib lets go of it while it compresses, so other threads keep running.
Copying the pixels out of a surface (`rgb_pixels`, ~2 ms) is the only part that
must happen where the surface is drawn.
"""

from __future__ import annotations

import struct
import zlib
from pathlib import Path

import pygame

LEVEL = 3
"""zlib level: screenshots are for eyes and QR decoders, not archives; speed wins."""


def rgb_pixels(surface: pygame.Surface) -> bytes:
    """A copy of `surface`'s pixels as RGB rows, top first."""
    return pygame.image.tobytes(surface, "RGB")


def encode(pixels: bytes, size: tuple[int, int], level: int = LEVEL) -> bytes:
    """An RGB PNG of `pixels` (rows of width * 3 bytes, top first)."""
    width, height = size
    stride = width * 3
    rows = b"".join(
        b"\x00" + pixels[y * stride : (y + 1) * stride]  # filter type 0 on every row
        for y in range(height)
    )

    def chunk(kind: bytes, data: bytes) -> bytes:
        return (
            struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))
        )

    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", header)
        + chunk(b"IDAT", zlib.compress(rows, level))
        + chunk(b"IEND", b"")
    )


def save(surface: pygame.Surface, path: Path) -> None:
    """Write `surface` to `path` as a PNG (not atomically: see screenshots.save_numbered)."""
    path.write_bytes(encode(rgb_pixels(surface), surface.get_size()))
