"""The display adapter: one pygame window or full-screen panel, rotation and screenshots.

Slides are painted on `canvas` in the orientation people see; `present()` turns that
onto the panel, so a landscape panel hung portrait needs only `rotation`.
"""

from __future__ import annotations

import ctypes
import os
from pathlib import Path
from types import TracebackType

import pygame

from edge.errors import ConfigError, EdgeError
from edge.signage.screenshots import save_numbered

ROTATIONS = (0, 90, 180, 270)
_CANDIDATE_DRIVERS = ("kmsdrm", "wayland", "x11", "fbcon", "directfb", "offscreen", "dummy")


class DisplayError(EdgeError):
    """The display cannot be opened (no such SDL video driver, no panel, no permission)."""


class Screen:
    """Owns the pygame display between `__enter__` and `__exit__`.

    `width`/`height` are the panel's size in pixels (0x0 = the desktop size, for
    full screen); `rotation` is how many degrees clockwise the picture is turned on
    the panel; `headless` uses SDL's dummy driver unless SDL_VIDEODRIVER is set.
    """

    def __init__(
        self,
        width: int,
        height: int,
        *,
        rotation: int = 0,
        headless: bool = False,
        fullscreen: bool = False,
        screenshot_dir: Path | None = None,
        keep_screenshots: int = 50,
    ) -> None:
        if rotation not in ROTATIONS:
            raise ConfigError("rotation", rotation, "0, 90, 180 or 270")
        if keep_screenshots < 1:
            raise ConfigError("keep_screenshots", keep_screenshots, "an integer >= 1")
        if width < 0 or height < 0:
            raise ConfigError("size", (width, height), "0x0 (desktop size) or positive pixels")
        self.width = width
        self.height = height
        self.rotation = rotation
        self.headless = headless
        self.fullscreen = fullscreen
        self.screenshot_dir = screenshot_dir
        self.keep_screenshots = keep_screenshots
        self._display: pygame.Surface | None = None
        self._canvas: pygame.Surface | None = None

    def __enter__(self) -> Screen:
        if self.headless:
            os.environ.setdefault("SDL_VIDEODRIVER", "dummy")
        _return_big_buffers()
        try:
            pygame.display.init()
            # Headless has no screen to fill: keep the configured size for screenshots.
            flags = pygame.FULLSCREEN if self.fullscreen and not self.headless else 0
            self._display = pygame.display.set_mode((self.width, self.height), flags)
        except pygame.error as exc:
            driver = os.environ.get("SDL_VIDEODRIVER") or "SDL's default"
            pygame.display.quit()
            raise DisplayError(
                f"cannot open the display with SDL video driver {driver!r}: {exc}"
            ) from exc
        pygame.display.set_caption("omo-edge")
        if self.fullscreen:
            pygame.mouse.set_visible(False)
        w, h = self._display.get_size()
        if self.rotation == 0:
            self._canvas = self._display  # paint straight onto the panel, no copy
        else:
            size = (h, w) if self.rotation in (90, 270) else (w, h)
            self._canvas = pygame.Surface(size).convert()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self._display = self._canvas = None
        pygame.display.quit()

    @property
    def canvas(self) -> pygame.Surface:
        """Where slides are painted, in the orientation viewers see (portrait if 90/270)."""
        if self._canvas is None:
            raise DisplayError("the screen is not open (use it as a context manager)")
        return self._canvas

    @property
    def driver(self) -> str:
        """The SDL video driver in use, e.g. "kmsdrm", "x11" or "dummy"."""
        return pygame.display.get_driver()

    def present(self) -> None:
        """Show the canvas: turn it onto the panel if rotated, then flip."""
        canvas = self.canvas
        if self._display is not None and canvas is not self._display:
            self._display.blit(pygame.transform.rotate(canvas, -self.rotation), (0, 0))
        pygame.display.flip()

    def pump(self) -> bool:
        """Handle pending window events; False once the window is closed or Escape pressed."""
        keep_going = True
        for event in pygame.event.get():
            if event.type == pygame.QUIT or (
                event.type == pygame.KEYDOWN and event.key == pygame.K_ESCAPE
            ):
                keep_going = False
        return keep_going

    def screenshot(self, name: str) -> Path | None:
        """Save the canvas as `<seq>-<name>.png`; keep only the newest `keep_screenshots`.

        Returns None when no screenshot_dir is configured. The file appears atomically,
        so an uploader never reads half a PNG (see screenshots.save_numbered).
        """
        if self.screenshot_dir is None:
            return None
        return save_numbered(self.canvas, self.screenshot_dir, name, self.keep_screenshots)


_M_MMAP_THRESHOLD = -3
_MMAP_THRESHOLD_BYTES = 256 << 10


def _return_big_buffers() -> None:
    """Make glibc give frame-sized buffers back to the system as soon as they are freed.

    Slides come and go with 8 MB pictures. glibc's adaptive threshold moves such
    blocks from mmap onto the heap after the first is freed, where fragmentation
    keeps them: RSS then creeps up by tens of MB. A fixed threshold stops that.
    Elsewhere (musl, macOS) this does nothing.
    """
    try:
        libc = ctypes.CDLL(None)
        mallopt = libc.mallopt
    except (OSError, AttributeError):
        return
    mallopt.argtypes = [ctypes.c_int, ctypes.c_int]
    mallopt(_M_MMAP_THRESHOLD, _MMAP_THRESHOLD_BYTES)


def available_drivers() -> list[str]:
    """SDL video drivers that initialise on this machine, for `omo-edge doctor`.

    Tries each known driver in turn, so it must not run while a Screen is open.
    """
    if pygame.display.get_init():
        raise DisplayError("cannot probe video drivers while the display is open")
    saved = os.environ.get("SDL_VIDEODRIVER")
    working = []
    try:
        for name in _CANDIDATE_DRIVERS:
            os.environ["SDL_VIDEODRIVER"] = name
            try:
                pygame.display.init()
            except pygame.error:
                continue
            else:
                working.append(name)
            finally:
                pygame.display.quit()
    finally:
        if saved is None:
            os.environ.pop("SDL_VIDEODRIVER", None)
        else:
            os.environ["SDL_VIDEODRIVER"] = saved
    return working
