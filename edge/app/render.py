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

While the panel is off (store hours, an override: `bridge.panel_wanted` is False) the
Stage is left (its last slide's impression ends there), the panel goes into standby
through its adapter (edge/panel/power.py; DPMS first releases the screen) and the loop
ticks twice a second: no frames, no impressions, but the watchdog and `running.json`
still see a live render loop. When the panel is wanted again it is woken and a new
Stage takes the newest playlist from the bridge.
"""

from __future__ import annotations

import logging
import os
import threading
from collections.abc import Callable
from pathlib import Path

from edge.app.bridge import RenderBridge
from edge.config import Config
from edge.content.service import fallback_playlist
from edge.panel.power import NoPower, PanelPower, PowerError
from edge.signage.screen import DisplayError, Screen
from edge.signage.stage import Stage

log = logging.getLogger(__name__)

DARK_TICK_S = 0.5
"""While the panel is off the render loop wakes this often (the watchdog sees it alive)."""

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
    power: PanelPower | None = None,
) -> int:
    """Play on the display until `stop`; returns the frames shown.

    DisplayError when there is no usable display and nobody (systemd) keeps us running.
    """
    power = power or NoPower()
    frames = 0
    if bridge.panel_wanted:
        _switch(power.wake, "wake")  # it may have been left in standby by a restart at night
    while not stop.is_set():
        try:
            if not bridge.panel_wanted and power.releases_screen:
                _dark(bridge, stop, power)  # standby with the screen released
                continue
            frames += _play(config, bridge, stop, power)
        except DisplayError as exc:
            if not under_systemd:
                raise
            if bridge.display != "none":
                log.error("%s; running without a screen, trying again every %.0f s", exc, retry_s)
            bridge.no_display()
            stop.wait(retry_s)
    return frames


class _UntilDark(threading.Event):
    """What the Stage watches as its stop: the device stopping, or the panel going off."""

    def __init__(self, stop: threading.Event, bridge: RenderBridge) -> None:
        super().__init__()
        self._stop, self._bridge = stop, bridge

    def is_set(self) -> bool:
        return self._stop.is_set() or not self._bridge.panel_wanted

    def set(self) -> None:  # the window was closed: the device stops
        self._stop.set()


def _play(config: Config, bridge: RenderBridge, stop: threading.Event, power: PanelPower) -> int:
    """Open the screen and play while the panel is wanted; with an adapter that keeps the
    screen (CEC, none) also spend the panel's standby here. Returns the frames shown."""
    frames = 0
    with open_screen(config) as screen:
        check_panel(config, screen.driver)
        log.info("screen ready: %dx%d, video driver %s", *screen.canvas.get_size(), screen.driver)
        while not stop.is_set():
            slides, resolve = fallback_playlist(config)  # until the bridge hands over its own
            stage = Stage(
                screen,
                slides,
                resolve,
                on_impression=bridge.impression,
                on_shown=bridge.shown,
                fps=config.display.fps,
            )
            bridge.attach(stage)
            try:
                stage.run(_UntilDark(stop, bridge))
            finally:
                bridge.detach()
            frames += stage.frames
            if stop.is_set() or power.releases_screen:
                break  # DPMS: the screen is closed before the panel is blanked
            _dark(bridge, stop, power, screen)
    return frames


def _dark(
    bridge: RenderBridge, stop: threading.Event, power: PanelPower, screen: Screen | None = None
) -> None:
    """The panel in standby until it is wanted again (or the device stops)."""
    log.info("panel going to standby (%s)", power.method)
    bridge.dark_tick()
    if screen is not None:  # what shows if the panel ignores us: black, not a frozen slide
        screen.canvas.fill((0, 0, 0))
        screen.present()
    _switch(power.standby, "standby")
    while not stop.is_set() and not bridge.panel_wanted:
        bridge.dark_tick()
        if screen is not None and not screen.pump():
            stop.set()
        stop.wait(DARK_TICK_S)
    if not stop.is_set():
        log.info("waking the panel (%s)", power.method)
        _switch(power.wake, "wake")


def _switch(action: Callable[[], None], what: str) -> None:
    try:
        action()
    except PowerError as exc:
        log.error("panel %s failed: %s", what, exc)
