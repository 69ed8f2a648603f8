"""Pictures on slides: fitting an image into a rectangle (letterboxed or covering),
drawing a named asset, the neutral frame shown while one is missing, and a slide's own
QR code.

None needs a display, a clock or files: images come through `ImageFor`, and every
picture drawn is noted in a `Placed` like the other pieces.
"""

from __future__ import annotations

from collections.abc import Callable

import pygame

from edge.errors import ContentRejected
from edge.signage.look import RADIUS, WHITE, Look
from edge.signage.pieces import Placed
from edge.signage.qr import QUIET_ZONE, matrix_surface, qr_matrix

ImageFor = Callable[[str], pygame.Surface | None]
"""Looks an asset name up; returns None for anything it cannot load."""


def fitted_rect(source: tuple[int, int], area: pygame.Rect, fit: str) -> pygame.Rect:
    """Where a `source`-sized picture lands, scaled to `area` keeping its aspect.

    "fit" letterboxes the whole picture inside `area`; "fill" covers `area` (the
    result is larger than `area` and centred on it, to be clipped).
    """
    sw, sh = max(1, source[0]), max(1, source[1])
    pick = max if fit == "fill" else min
    scale = pick(area.w / sw, area.h / sh)
    rect = pygame.Rect(0, 0, max(1, round(sw * scale)), max(1, round(sh * scale)))
    rect.center = area.center
    return rect


def scale_into(surface: pygame.Surface, image: pygame.Surface, rect: pygame.Rect) -> None:
    """`image` smooth-scaled onto `rect` of `surface` (which may reach past its edges).

    An opaque image in the surface's own pixel format is scaled straight into it:
    no frame-sized temporary, which matters on a device with little memory.
    """
    inside = rect.clip(surface.get_rect())
    if (
        inside == rect
        and rect.w
        and rect.h
        and not image.get_flags() & pygame.SRCALPHA
        and image.get_bitsize() == surface.get_bitsize()
        and image.get_masks() == surface.get_masks()
    ):
        pygame.transform.smoothscale(image, rect.size, surface.subsurface(rect))
    else:
        surface.blit(pygame.transform.smoothscale(image, rect.size), rect)


def cover(surface: pygame.Surface, image: pygame.Surface, area: pygame.Rect) -> None:
    """`image` scaled to cover `area` and cropped to it (nothing drawn outside `area`)."""
    rect = fitted_rect(image.get_size(), area, "fill")
    scale = rect.w / image.get_width()
    seen = pygame.Rect(  # the part of the image that lands on the area
        round((area.x - rect.x) / scale),
        round((area.y - rect.y) / scale),
        round(area.w / scale),
        round(area.h / scale),
    ).clip(image.get_rect())
    if seen.w and seen.h:
        scale_into(surface, image.subsurface(seen), area)


def usable(image: pygame.Surface | None) -> pygame.Surface | None:
    """`image` in a depth smoothscale takes (24 or 32 bits), or None if empty."""
    if image is None or min(image.get_size()) == 0:
        return None
    if image.get_bitsize() not in (24, 32):
        converted = pygame.Surface(image.get_size(), pygame.SRCALPHA, 32)
        converted.blit(image, (0, 0))
        image = converted
    return image


def scaled_image(
    name: str | None, image_for: ImageFor, size: tuple[int, int]
) -> pygame.Surface | None:
    """The named image smooth-scaled to fit `size` keeping its aspect, or None if missing."""
    image = usable(image_for(name) if name else None)
    if image is None or min(size) <= 0:
        return None
    rect = fitted_rect(image.get_size(), pygame.Rect((0, 0), size), "fit")
    return pygame.transform.smoothscale(image, rect.size)


def draw_picture(
    surface: pygame.Surface,
    area: pygame.Rect,
    name: str | None,
    image_for: ImageFor,
    look: Look,
    *,
    placed: Placed,
    dim: bool = False,
    placeholder: bool = True,
) -> pygame.Rect:
    """The named image letterboxed in `area` (dimmed if `dim`), or a placeholder if it is
    missing (nothing if not `placeholder`); returns where it went."""
    scaled = scaled_image(name, image_for, area.size)
    if scaled is None:
        if not placeholder:
            return pygame.Rect(area.x, area.y, 0, 0)
        draw_placeholder(surface, area, look)
        return placed.add("image", area)
    if dim:
        veil = pygame.Surface(scaled.get_size(), pygame.SRCALPHA)
        veil.fill((*look.background[:3], 120))
        scaled = scaled.copy()
        scaled.blit(veil, (0, 0))
    rect = scaled.get_rect(center=area.center)
    surface.blit(scaled, rect)
    return placed.add("image", rect)


def draw_placeholder(surface: pygame.Surface, area: pygame.Rect, look: Look) -> None:
    """A neutral grey picture frame: obviously "image missing", never a black hole."""
    grey = look.background.lerp((128, 128, 128), 0.6)
    line = grey.lerp(WHITE, 0.35)
    pygame.draw.rect(surface, grey, area, border_radius=look.px(RADIUS))
    s = min(area.w, area.h) // 3
    if s < 6:
        return
    icon = pygame.Rect(0, 0, s, s * 3 // 4)
    icon.center = area.center
    width = max(1, s // 24)
    pygame.draw.rect(surface, line, icon, width, border_radius=max(1, s // 16))
    pygame.draw.circle(surface, line, (icon.x + s * 7 // 10, icon.y + s // 4), max(1, s // 10))
    pygame.draw.polygon(
        surface,
        line,
        [
            (icon.x + s // 8, icon.bottom - s // 8),
            (icon.x + s * 3 // 8, icon.y + s * 3 // 8),
            (icon.x + s * 5 // 8, icon.bottom - s // 8),
        ],
    )


def draw_qr(
    surface: pygame.Surface, cell: pygame.Rect, data: str, look: Look, placed: Placed
) -> pygame.Rect:
    """A QR code centred in `cell`, as large as fits with whole-pixel modules (error
    correction M, raised where the size allows); a placeholder if it cannot be made."""
    try:
        matrix = qr_matrix(data)
    except ContentRejected:
        draw_placeholder(surface, cell, look)
        return placed.add("image", cell)
    code = matrix_surface(matrix, min(cell.w, cell.h))
    rect = code.get_rect(center=cell.center)
    surface.blit(code, rect)
    return placed.add("qr", rect)


def qr_side(data: str, room: int) -> int:
    """The side of the QR code `draw_qr` would draw in a `room`-pixel square."""
    try:
        n = len(qr_matrix(data)) + 2 * QUIET_ZONE
    except ContentRejected:
        return room
    return n * max(1, room // n)
