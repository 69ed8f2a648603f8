"""The Stage's door for other threads: requests queued for the render loop to take.

Every method here is thread-safe and returns at once: it records the request and
wakes the loop, which takes everything waiting at the start of its next step
(`_take`, `_departures`, `_personals`), on the render thread. A newer playlist,
check-in or reload replaces one not yet taken; personal slides and departures
queue in order (a full queue of personal slides drops the oldest).
"""

from __future__ import annotations

import contextlib
import queue
import threading
from collections.abc import Iterator, Sequence
from concurrent.futures import Future
from dataclasses import dataclass
from typing import TypeVar

from edge.content.player import Personal
from edge.content.slides import Slide
from edge.signage.card_overlay import Checkin
from edge.signage.checkin_card import DEFAULT_LABEL
from edge.signage.qr import qr_matrix
from edge.signage.scenes import Resolve

T = TypeVar("T")


@dataclass(frozen=True, slots=True)
class Playlist:
    slides: tuple[Slide, ...]
    resolve: Resolve
    fallback: bool  # the device's own content: anything newer replaces it at once

    @property
    def layout(self) -> str | None:
        """The layout its slides name (a manifest's `layout`), for personal slides too."""
        return next((s.layout for s in self.slides if s.layout), None)


@dataclass(frozen=True, slots=True)
class Requests:
    """What the loop takes in one step (None / False / empty: nothing asked)."""

    playlist: Playlist | None
    reload: bool
    repaint: bool
    checkin: Checkin | None
    shots: list[Future[bytes]]


class StageInbox:
    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._wake = threading.Event()
        self._personal: queue.Queue[Personal] = queue.Queue(maxsize=64)
        self._departed: queue.Queue[str] = queue.Queue(maxsize=1024)
        self._requested: Playlist | None = None
        self._reload_requested = False
        self._repaint_requested = False
        self._checkin_requested: Checkin | None = None
        self._shots: list[Future[bytes]] = []

    def show(self, personal: Personal) -> None:
        """A personal slide to show, within the fair share (a full queue drops the oldest)."""
        while True:
            try:
                self._personal.put_nowait(personal)
                break
            except queue.Full:
                with contextlib.suppress(queue.Empty):
                    self._personal.get_nowait()
        self._wake.set()

    def depart(self, visit_id: str) -> None:
        """The visit ended; its personal slides still waiting are skipped."""
        with contextlib.suppress(queue.Full):
            self._departed.put_nowait(visit_id)
        self._wake.set()

    def set_playlist(
        self, slides: Sequence[Slide], resolve: Resolve, *, fallback: bool = False
    ) -> None:
        """Play `slides` (assets through `resolve`) from the next slide boundary.

        They start at once if only fallback content is playing. `fallback=True` marks
        them as fallback content in turn. A newer call replaces one not yet applied.
        """
        if not slides:
            raise ValueError("a playlist needs at least one slide")
        with self._lock:
            self._requested = Playlist(tuple(slides), resolve, fallback)
        self._wake.set()

    def set_checkin(self, url: str | None, label: str = DEFAULT_LABEL) -> None:
        """Show a QR code of `url` with `label` on every slide; None: none.

        The card (edge.signage.checkin_card: 6 px modules and 32 px capitals at
        1080p, scaled with the screen) sits in its own zone in the bottom-right
        corner of every slide, playlist or personal, in either orientation and
        through crossfades; layouts keep that zone clear. Slides with a QR code of
        their own go without it. A new `url` or `label` replaces the card on the
        picture at once: no transition, no repaint of the slide, its timing and
        impression untouched. The same `url` and `label` again change nothing.
        Raises ContentRejected (on the calling thread) if `url` cannot be a QR code.
        """
        # error correction L (raised where the version allows): a screen is not a torn
        # sticker, and fewer modules mean larger ones in the same small corner
        code = None if url is None else qr_matrix(url, error="l")
        with self._lock:
            self._checkin_requested = Checkin(url, label, code)
        self._wake.set()

    def request_screenshot(self) -> Future[bytes]:
        """PNG bytes of the next presented frame (the canvas, as viewers see it)."""
        future: Future[bytes] = Future()
        with self._lock:
            self._shots.append(future)
        self._wake.set()
        return future

    def reload(self) -> None:
        """Read every asset again through resolve and repaint what is on screen."""
        with self._lock:
            self._reload_requested = True
        self._wake.set()

    def repaint(self) -> None:
        """Paint the personal slide on screen again with the assets as they are now (a
        decision's image that arrived after its slide went up): the same stint goes on,
        cut without a fade; images already decoded are kept. Nothing for playlist slides."""
        with self._lock:
            self._repaint_requested = True
        self._wake.set()

    # -- the render thread's side ----------------------------------------------------
    def _take(self) -> Requests:
        with self._lock:
            taken = Requests(
                self._requested,
                self._reload_requested,
                self._repaint_requested,
                self._checkin_requested,
                self._shots,
            )
            self._requested, self._reload_requested = None, False
            self._repaint_requested = False
            self._checkin_requested, self._shots = None, []
        return taken

    def _departures(self) -> Iterator[str]:
        return _emptied(self._departed)

    def _personals(self) -> Iterator[Personal]:
        return _emptied(self._personal)

    def _fail_shots(self) -> None:
        """The loop stopped: nobody waits forever for a screenshot."""
        with self._lock:
            shots, self._shots = self._shots, []
        for future in shots:
            if future.set_running_or_notify_cancel():
                future.set_exception(RuntimeError("the stage stopped before the next frame"))


def _emptied(waiting: queue.Queue[T]) -> Iterator[T]:
    """Everything in `waiting` now, oldest first, without blocking."""
    while True:
        try:
            yield waiting.get_nowait()
        except queue.Empty:
            return
