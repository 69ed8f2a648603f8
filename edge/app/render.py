"""The render thread: open the display, build the Stage, hand it to the bridge, play.

A display that cannot be used is never hidden behind a healthy log line:

- SDL may fall back to its `offscreen` or `dummy` driver when no panel can be
  opened; with `headless = false` that is no display at all, never "screen ready";
- run by hand, the daemon then refuses to start (DisplayError: exit 2, with
  doctor's advice);
- under systemd (NOTIFY_SOCKET set), an HDMI cable unplugged at boot must not
  become a restart loop: presence, outbox and sync run on without a screen, the
  problem is logged as an error, `display: none` goes into health and
  `P/state`, and the display is tried again every `retry_s` until one appears.
"""

from __future__ import annotations

import logging
import os
import threading
from pathlib import Path

from edge.app.bridge import RenderBridge
from edge.config import Config
from edge.content.service import fallback_playlist
from edge.signage.screen import DisplayError, Screen
from edge.signage.stage import Stage

log = logging.getLogger(__name__)

NO_PANEL_DRIVERS = ("offscreen", "dummy")
ADVICE = (
    "run `omo-edge doctor` to see which SDL video drivers work here; on a Pi without a "
    "desktop, use Debian's python3-pygame (a venv made with --system-site-packages)"
)


def open_screen(config: Config) -> Screen:
    d = config.display
    if d.headless:
        os.environ.setdefault("SDL_VIDEODRIVER", "dummy")
    return Screen(
        d.width,
        d.height,
        rotation=d.rotation,
        headless=d.headless,
        fullscreen=d.fullscreen,
        screenshot_dir=Path(d.screenshot_dir) if d.screenshot_dir else None,
    )


def check_panel(config: Config, driver: str) -> None:
    """A screen that is not headless must be a real panel, not SDL's stand-in."""
    asked = os.environ.get("SDL_VIDEODRIVER", "")
    if not config.display.headless and driver in NO_PANEL_DRIVERS and asked != driver:
        raise DisplayError(
            f"no usable display: SDL fell back to its {driver!r} driver, which shows nothing "
            f"(set [display] headless = true to run without a screen on purpose); {ADVICE}"
        )


def render(
    config: Config,
    bridge: RenderBridge,
    stop: threading.Event,
    *,
    under_systemd: bool,
    retry_s: float = 30.0,
) -> int:
    """Play on the display until `stop`; returns the frames shown.

    DisplayError when there is no usable display and nobody (systemd) keeps us running.
    """
    while not stop.is_set():
        try:
            return _play(config, bridge, stop)
        except DisplayError as exc:
            if not under_systemd:
                raise
            if bridge.display != "none":
                log.error("%s; running without a screen, trying again every %.0f s", exc, retry_s)
            bridge.no_display()
            stop.wait(retry_s)
    return 0


def _play(config: Config, bridge: RenderBridge, stop: threading.Event) -> int:
    with open_screen(config) as screen:
        check_panel(config, screen.driver)
        log.info("screen ready: %dx%d, video driver %s", *screen.canvas.get_size(), screen.driver)
        slides, resolve = fallback_playlist(config)  # until the bridge hands over what's asked
        stage = Stage(
            screen,
            slides,
            resolve,
            on_impression=bridge.impression,
            on_shown=bridge.shown,
            fps=config.display.fps,
            personal_share_max=config.personalize.personal_share_max,
        )
        bridge.attach(stage)
        try:
            stage.run(stop)
        finally:
            bridge.detach()
        return stage.frames
