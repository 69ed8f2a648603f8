"""The one bridge between the render thread and the I/O thread.

Built before either thread starts, so neither ever looks for the other:

- the I/O side asks for things to be shown (`show`, `set_playlist`,
  `set_checkin`, `reload`, `screenshot`). Until the render thread has its
  Stage, requests are kept here (the newest playlist and check-in code, the
  personal slides) and handed over, under the same lock, the moment it
  `attach`es: a playlist that arrives while the Stage is being built is never
  lost. After that they go straight to the Stage's thread-safe methods.
- the render side reports what it showed (`impression`, `shown`); those
  reach the I/O loop through `call_soon_threadsafe` and nothing else.
- both read how the screen is doing (`frames`, `last_frame`, `display`), for
  the systemd watchdog, health and `P/state`.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import logging
import threading
import time
from collections import deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Literal, Protocol, TypeVar

from edge.content.player import Impression, Personal, Showing
from edge.content.slides import Slide
from edge.errors import EdgeError
from edge.signage.scenes import Resolve

log = logging.getLogger(__name__)

DisplayState = Literal["starting", "on", "off", "none"]
"""`none`: no usable display (the daemon runs on without a screen); `off`: the panel is
in standby (store hours or an override) and the render loop idles."""

PERSONAL_KEPT = 64
T = TypeVar("T")


class StageLike(Protocol):
    """What the bridge needs of edge.signage.stage.Stage (its thread-safe methods)."""

    frames: int
    last_frame_monotonic: float
    airtime: dict[str, int]

    def show(self, personal: Personal) -> None: ...
    def depart(self, visit_id: str) -> None: ...
    def set_playlist(
        self, slides: Sequence[Slide], resolve: Resolve, *, fallback: bool = False
    ) -> None: ...
    def set_checkin(self, url: str | None, label: str = ...) -> None: ...
    def reload(self) -> None: ...
    def repaint(self) -> None: ...
    def request_screenshot(self) -> concurrent.futures.Future[bytes]: ...


@dataclass(frozen=True, slots=True)
class Playlist:
    slides: tuple[Slide, ...]
    resolve: Resolve
    fallback: bool


class ScreenUnavailable(EdgeError):
    """Nothing can be taken from the screen (not up yet, or no display at all)."""


class RenderBridge:
    def __init__(
        self,
        *,
        on_impression: Callable[[Impression], None],
        on_shown: Callable[[Showing, Path | None], None] = lambda _s, _p: None,
        on_display: Callable[[DisplayState], None] = lambda _d: None,
    ) -> None:
        self._lock = threading.Lock()
        self._airtime: dict[str, int] = {}
        self._stage: StageLike | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._on_impression = on_impression
        self._on_shown = on_shown
        self._on_display = on_display
        self._playlist: Playlist | None = None
        self._checkin: tuple[str | None] | None = None  # None: never set
        self._personal: deque[Personal] = deque(maxlen=PERSONAL_KEPT)
        self.display: DisplayState = "starting"
        self.dropped_reports = 0
        self.panel_wanted = True
        """Set by the I/O side (edge/panel/service.py): False puts the panel in standby."""
        self.panel_method = "none"
        """How the panel is put in standby (edge/panel/power.py), set before the threads start."""
        self._dark_tick = -1.0

    # -- set up --------------------------------------------------------------------
    def bind_loop(self, loop: asyncio.AbstractEventLoop) -> None:
        """The I/O thread's loop, where render reports are delivered."""
        self._loop = loop

    def attach(self, stage: StageLike) -> None:
        """Render thread: the Stage is built; hand it everything asked for meanwhile."""
        with self._lock:
            if self._playlist is not None:
                p = self._playlist
                stage.set_playlist(p.slides, p.resolve, fallback=p.fallback)
            if self._checkin is not None:
                stage.set_checkin(self._checkin[0])
            while self._personal:
                stage.show(self._personal.popleft())
            self._stage = stage
        self._set_display("on")

    def detach(self) -> None:
        with self._lock:
            if self._stage is not None:  # a Stage per lit period: their counts add up
                self._airtime = _added(self._airtime, self._stage.airtime)
            self._stage = None

    @property
    def airtime(self) -> dict[str, int]:
        """Personal slides shortened, deferred, expired (waited past their ttl) and departed
        (their visitor left first), from the Stage's Player."""
        with self._lock:
            stage = self._stage
            return _added(self._airtime, stage.airtime if stage is not None else {})

    def no_display(self) -> None:
        """The render thread runs without a screen (none found); reports say so."""
        self._set_display("none")

    def set_panel(self, on: bool) -> None:
        """Any thread: the panel should be on (or in standby); the render thread follows
        within a tenth of a second."""
        self.panel_wanted = on

    def dark_tick(self) -> None:
        """Render thread, while the panel is off: the loop is alive (for the watchdog)."""
        self._dark_tick = time.monotonic()
        self._set_display("off")

    def _set_display(self, state: DisplayState) -> None:
        if state != self.display:
            self.display = state
            self._deliver(self._on_display, state)

    # -- I/O thread -> render --------------------------------------------------------
    def show(self, personal: Personal) -> None:
        if not self.panel_wanted:
            return  # a late answer for a screen in standby is stale by the morning
        with self._lock:
            if self._stage is None:
                self._personal.append(personal)
                return
            stage = self._stage
        stage.show(personal)

    def depart(self, visit_id: str) -> None:
        """The visit ended: a personal slide for it still waiting for airtime is skipped."""
        with self._lock:
            stage = self._stage
        if stage is not None:
            stage.depart(visit_id)

    def set_playlist(
        self, slides: Sequence[Slide], resolve: Resolve, *, fallback: bool = False
    ) -> None:
        """Play `slides` (empty: nothing of central's; the caller sends the fallback)."""
        with self._lock:
            self._playlist = Playlist(tuple(slides), resolve, fallback)
            if self._stage is not None:
                self._stage.set_playlist(slides, resolve, fallback=fallback)

    def set_checkin(self, url: str | None) -> None:
        """Show the check-in QR code of `url` on every slide (None: none).

        The Stage checks that `url` can be a QR code (ContentRejected otherwise).
        """
        with self._lock:
            if self._stage is not None:
                self._stage.set_checkin(url)
            self._checkin = (url,)

    def reload(self) -> None:
        with self._lock:
            stage = self._stage
        if stage is not None:
            stage.reload()

    def repaint(self) -> None:
        """A decision's image arrived: the personal slide on screen is painted with it."""
        with self._lock:
            stage = self._stage
        if stage is not None:
            stage.repaint()

    def screenshot(self) -> asyncio.Future[bytes]:
        """PNG bytes of the next frame, on the calling (I/O) loop."""
        with self._lock:
            stage = self._stage
        if stage is None:
            raise ScreenUnavailable(
                "no display on this device"
                if self.display == "none"
                else "the screen is not up yet"
            )
        return asyncio.wrap_future(stage.request_screenshot())

    # -- render thread -> I/O ----------------------------------------------------------
    def impression(self, impression: Impression) -> None:
        self._deliver(self._on_impression, impression)

    def shown(self, showing: Showing, shot: Path | None) -> None:
        self._on_shown(showing, shot)  # logging only: fine on the render thread

    def _deliver(self, fn: Callable[[T], None], arg: T) -> None:
        loop = self._loop
        if loop is None or loop.is_closed():
            self.dropped_reports += 1
            return
        with contextlib.suppress(RuntimeError):  # the loop closed meanwhile
            loop.call_soon_threadsafe(fn, arg)
            return
        self.dropped_reports += 1

    # -- read by both ------------------------------------------------------------------
    @property
    def frames(self) -> int:
        stage = self._stage
        return stage.frames if stage is not None else 0

    def on_screen(self) -> bool:
        """A frame has been presented (READY for systemd; the update health check)."""
        return self.frames > 0

    def running(self) -> bool:
        """The render loop runs as it should: a frame on screen, or none on purpose (no
        display, or the panel in standby while its loop idles). READY for systemd and
        `running.json` wait for this: a night must not look like a failed start."""
        return self.on_screen() or self.display in ("none", "off")

    def last_frame(self) -> float:
        """When the render loop last confirmed a frame (monotonic; now when no screen)."""
        stage = self._stage
        if stage is None:
            if self.display == "off":
                return self._dark_tick
            return time.monotonic() if self.display == "none" else -1.0
        return stage.last_frame_monotonic


def _added(a: dict[str, int], b: dict[str, int]) -> dict[str, int]:
    return {k: a.get(k, 0) + b.get(k, 0) for k in a.keys() | b.keys()}
