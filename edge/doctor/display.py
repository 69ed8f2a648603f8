"""Doctor check of the display: which SDL video driver the daemon will use and whether it
can drive a screen. `display_verdict` is pure; the readers probe SDL.
"""

from __future__ import annotations

import contextlib
import ctypes
import os
import re
import sys
from collections.abc import Iterator, Sequence
from pathlib import Path

from edge import config as config_mod
from edge.doctor.findings import Finding

REAL_DRIVERS = ("kmsdrm", "x11", "wayland")


def sdl_builtin_drivers() -> list[str]:
    """Video drivers compiled into the SDL this pygame uses (whether or not they start)."""
    import pygame  # noqa: F401 - loads the SDL library we ask

    try:
        maps = Path("/proc/self/maps").read_text()
    except OSError:
        return []
    libs = sorted(
        {line.split()[-1] for line in maps.splitlines() if re.search(r"/libSDL2-2", line)}
    )
    if not libs:
        return []
    try:
        sdl = ctypes.CDLL(libs[0])
        sdl.SDL_GetVideoDriver.restype = ctypes.c_char_p
        sdl.SDL_GetVideoDriver.argtypes = [ctypes.c_int]
        count = int(sdl.SDL_GetNumVideoDrivers())
        return [sdl.SDL_GetVideoDriver(i).decode() for i in range(count)]
    except (OSError, AttributeError):
        return []


def sdl_default_driver() -> str | None:
    """The driver SDL picks on its own (SDL_VIDEODRIVER unset), or None if none starts."""
    import pygame

    saved = os.environ.pop("SDL_VIDEODRIVER", None)
    try:
        pygame.display.init()
        return str(pygame.display.get_driver())
    except pygame.error:
        return None
    finally:
        pygame.display.quit()
        if saved is not None:
            os.environ["SDL_VIDEODRIVER"] = saved


def display_verdict(
    headless: bool,
    env_driver: str | None,
    builtin: Sequence[str],
    working: Sequence[str],
    default: str | None,
) -> Finding:
    """Which SDL video driver the daemon will use, and whether a screen can be driven."""
    lists = (
        f"built into this pygame's SDL: {', '.join(builtin) or 'unknown'}; "
        f"starting here: {', '.join(working) or 'none'}"
    )
    if env_driver:
        if env_driver in working:
            return Finding("OK", "display", f"uses {env_driver} (SDL_VIDEODRIVER); {lists}")
        return Finding(
            "FAIL",
            "display",
            f"SDL_VIDEODRIVER={env_driver} does not start; {lists}",
            "unset SDL_VIDEODRIVER or set it to a driver that starts",
        )
    if headless:
        return Finding("OK", "display", f"headless: uses dummy (no screen); {lists}")
    real = [d for d in working if d in REAL_DRIVERS]
    if real:
        chosen = default if default in real else real[0]
        return Finding("OK", "display", f"uses {chosen}; {lists}")
    no_screen = "for a device without a screen, set [display] headless = true"
    if "kmsdrm" not in builtin:
        return Finding(
            "FAIL",
            "display",
            f"no screen driver starts and this pygame's SDL has no kmsdrm (the pip wheel's "
            f"SDL often lacks it; without a desktop only kmsdrm can drive the panel); {lists}",
            "install Debian's pygame (`apt install python3-pygame`, which uses the system SDL "
            "with kmsdrm) and make the venv with --system-site-packages, or build pygame "
            f"against libsdl2-dev; {no_screen}",
        )
    return Finding(
        "FAIL",
        "display",
        f"kmsdrm is built in but does not start (and no desktop for x11/wayland); {lists}",
        "check that /dev/dri/card* exists (on a Pi: dtoverlay=vc4-kms-v3d), that the service "
        "user is in the video and render groups, and that no desktop holds the screen; "
        + no_screen,
    )


@contextlib.contextmanager
def _stderr_silenced() -> Iterator[None]:
    sys.stderr.flush()
    saved = os.dup(2)
    try:
        with open(os.devnull, "wb") as null:
            os.dup2(null.fileno(), 2)
        yield
    finally:
        os.dup2(saved, 2)
        os.close(saved)


def check_display(cfg: config_mod.Config) -> Finding:
    from edge.signage.screen import available_drivers

    env_driver = os.environ.get("SDL_VIDEODRIVER") or None
    try:
        with _stderr_silenced():  # SDL prints its own complaints while drivers are probed
            builtin = sdl_builtin_drivers()
            working = available_drivers()
            default = None if env_driver or cfg.display.headless else sdl_default_driver()
    except Exception as exc:  # pygame itself broken is the finding
        return Finding(
            "FAIL", "display", f"pygame cannot start: {exc}", "reinstall omo-edge's venv"
        )
    return display_verdict(cfg.display.headless, env_driver, builtin, working, default)
