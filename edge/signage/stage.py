"""The render loop: owns the main thread, the Screen and the Player.

It takes personal slides from a thread-safe queue, asks the pure Player what
is on screen, paints only when that changes (an idle slide costs nearly
nothing), writes a screenshot of the first full frame of every slide, and
hands finished impressions back through a callback.
"""

from __future__ import annotations

import contextlib
import logging
import queue
import threading
import time
from collections.abc import Callable, Sequence
from functools import lru_cache
from pathlib import Path

import pygame

from edge.content.fallback import image_path
from edge.content.player import Impression, Personal, Player, Showing
from edge.content.slides import Slide
from edge.signage.painter import paint
from edge.signage.screen import Screen

log = logging.getLogger(__name__)


class Stage:
    def __init__(
        self,
        screen: Screen,
        playlist: Sequence[Slide],
        content_dir: Path,
        *,
        on_impression: Callable[[Impression], None],
        on_shown: Callable[[Showing, Path | None], None] = lambda _s, _p: None,
        fps: int = 30,
    ) -> None:
        self.screen = screen
        self.personal: queue.Queue[Personal] = queue.Queue(maxsize=64)
        self.frames = 0
        self._playlist = playlist
        self._content_dir = content_dir
        self._on_impression = on_impression
        self._on_shown = on_shown
        self._fps = fps

    @lru_cache(maxsize=32)  # noqa: B019 - one Stage per process; images are few and small
    def _image(self, name: str) -> pygame.Surface | None:
        path = image_path(self._content_dir, name)
        if path is None:
            return None
        try:
            return pygame.image.load(str(path)).convert()
        except (pygame.error, OSError) as exc:
            log.warning("image %r cannot be loaded: %s", name, exc)
            return None

    def show(self, personal: Personal) -> None:
        """Thread-safe: preempt the playlist with `personal` (a full queue drops the oldest)."""
        while True:
            try:
                self.personal.put_nowait(personal)
                return
            except queue.Full:
                with contextlib.suppress(queue.Empty):
                    self.personal.get_nowait()

    def run(self, stop: threading.Event) -> None:
        """Render until `stop` is set or the window is closed; ends the last slide's impression."""
        player = Player(self._playlist, time.monotonic())
        on_screen: Showing | None = None
        clock = pygame.time.Clock()
        while not stop.is_set():
            if not self.screen.pump():
                stop.set()
                break
            now = time.monotonic()
            done: list[Impression] = []
            while True:
                try:
                    done += player.preempt(self.personal.get_nowait(), now)
                except queue.Empty:
                    break
            done += player.advance(now)
            for impression in done:
                self._on_impression(impression)
            if player.showing is not on_screen:
                on_screen = player.showing
                paint(self.screen.canvas, on_screen.slide, self._image)
                self.screen.present()
                self.frames += 1
                shot = self.screen.screenshot(
                    f"{'personal' if on_screen.personal else 'playlist'}-{on_screen.slide.id}"
                )
                self._on_shown(on_screen, shot)
            clock.tick(self._fps)
        self._on_impression(player.finish(time.monotonic()))
