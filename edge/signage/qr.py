"""QR codes as pygame surfaces: black on white, with a quiet zone, scaled by whole modules.

Integer scaling keeps every module a crisp square, which phone cameras read far more
reliably than a smoothed one.
"""

from __future__ import annotations

import pygame

from edge.errors import ContentRejected

QUIET_ZONE = 4
"""Modules of white around the code, as ISO/IEC 18004 asks for."""

Matrix = tuple[tuple[bool, ...], ...]
"""A QR code's modules, rows top first, True for dark; no quiet zone."""


def qr_matrix(data: str, error: str = "m") -> Matrix:
    """The modules of a QR code for `data`, error correction at least `error` ("l" to "h").

    The smallest version that holds `data` is used, with the highest error correction
    that still fits it. Pure computation, no pygame: safe on any thread. Raises
    ContentRejected if `data` cannot be encoded.
    """
    import segno  # lazy: its writers pull in urllib and ssl (~6 MB) that a screen may not need

    try:
        code = segno.make(data, error=error, micro=False, boost_error=True)
    except ValueError as exc:  # segno's DataOverflowError is a ValueError
        raise ContentRejected(
            "malformed", f"cannot make a QR code of {len(data)} characters: {exc}"
        ) from exc
    return tuple(tuple(bool(dark) for dark in row) for row in code.matrix)


def matrix_surface(matrix: Matrix, max_px: int, border: int = QUIET_ZONE) -> pygame.Surface:
    """A square surface of `matrix` no larger than `max_px`, quiet zone included.

    The module size is the largest whole number of pixels that fits (at least 1, so
    on a very small `max_px` the code is larger than asked rather than unreadable).
    """
    n = len(matrix) + 2 * border
    small = pygame.Surface((n, n))
    small.fill((255, 255, 255))
    for y, row in enumerate(matrix):
        for x, dark in enumerate(row):
            if dark:
                small.set_at((x + border, y + border), (0, 0, 0))
    scale = max(1, max_px // n)
    return pygame.transform.scale(small, (n * scale, n * scale))  # nearest neighbour: crisp


def qr_surface(data: str, max_px: int, border: int = QUIET_ZONE) -> pygame.Surface:
    """A square QR code for `data` no larger than `max_px`, quiet zone included.

    See `matrix_surface`. Raises ContentRejected if `data` cannot be encoded.
    """
    return matrix_surface(qr_matrix(data), max_px, border)
