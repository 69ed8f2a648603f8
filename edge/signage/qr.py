"""QR codes as pygame surfaces: black on white, with a quiet zone, scaled by whole modules.

Integer scaling keeps every module a crisp square, which phone cameras read far more
reliably than a smoothed one.
"""

from __future__ import annotations

import pygame

from edge.errors import ContentRejected

QUIET_ZONE = 4
"""Modules of white around the code, as ISO/IEC 18004 asks for."""


def qr_surface(data: str, max_px: int, border: int = QUIET_ZONE) -> pygame.Surface:
    """A square QR code for `data` no larger than `max_px`, quiet zone included.

    The module size is the largest whole number of pixels that fits (at least 1, so
    on a very small `max_px` the code is larger than asked rather than unreadable).
    Raises ContentRejected if `data` cannot be encoded.
    """
    import segno  # lazy: its writers pull in urllib and ssl (~6 MB) that a screen may not need

    try:
        code = segno.make(data, error="m", micro=False)
    except ValueError as exc:  # segno's DataOverflowError is a ValueError
        raise ContentRejected(
            "malformed", f"cannot make a QR code of {len(data)} characters: {exc}"
        ) from exc
    matrix = code.matrix
    n = len(matrix) + 2 * border
    small = pygame.Surface((n, n))
    small.fill((255, 255, 255))
    for y, row in enumerate(matrix):
        for x, dark in enumerate(row):
            if dark:
                small.set_at((x + border, y + border), (0, 0, 0))
    scale = max(1, max_px // n)
    return pygame.transform.scale(small, (n * scale, n * scale))  # nearest neighbour: crisp
