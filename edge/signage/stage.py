"""The render loop: owns the main thread, the Screen and the Player.

Other threads talk to it only through the thread-safe methods (`show`,
`set_playlist`, `set_checkin`, `request_screenshot`, `reload`), which queue a
request and wake the loop. The loop asks the pure Player what is on screen,
paints the next slide off-screen before the current one ends, cuts or crossfades
to it (never through black), plays video frames as they fall due, and otherwise
sleeps until the next deadline: an unchanged slide is neither repainted nor
presented. It writes a screenshot of the first full frame of every slide and
hands finished impressions back through a callback.

The check-in card (a QR code and a label, see `set_checkin`) sits in the
bottom-right corner of every slide but a "qr" one. It is painted into each scene
as it is built, so it costs nothing per frame; a new code is laid over the old
one on the canvas (and on any scene not yet on screen) and presented at once.
The slide's own pixels under the card are kept (`Scene.under`, and `_shadow` for
the canvas, blended along with every crossfade step), so taking the card away
needs no repaint either; video frames that reach the corner update them and get
the card laid over them again before they are presented.
"""

from __future__ import annotations

import contextlib
import copy
import logging
import math
import queue
import struct
import threading
import time
import zlib
from collections.abc import Callable, Sequence
from concurrent.futures import Future
from dataclasses import dataclass
from pathlib import Path

import pygame

from edge.content.fallback import image_path
from edge.content.player import Impression, Personal, Player, Showing
from edge.content.slides import Slide
from edge.quiet import QuietLog
from edge.signage.painter import checkin_card, checkin_corner
from edge.signage.qr import Matrix, qr_matrix
from edge.signage.scenes import Images, Resolve, Scene, VideoScene
from edge.signage.screen import Screen

log = logging.getLogger(__name__)

MAX_SLEEP_S = 0.1
"""The loop wakes at least this often to pump window events and confirm it is alive."""

READY_WAIT_S = 0.5
"""How long the previous picture stays up while a video slide waits for its first frame."""

CARDLESS_KINDS = frozenset({"qr"})
"""Slide kinds shown without the check-in card: their own big QR code is the call to
action, and a second code next to it would leave shoppers guessing which to scan.
(A coupon keeps the card: its QR code and picture are laid out clear of the corner.)"""


@dataclass(frozen=True, slots=True)
class _Playlist:
    slides: tuple[Slide, ...]
    resolve: Resolve
    fallback: bool  # the device's own content: anything newer replaces it at once


@dataclass(slots=True)
class _Prepared:
    """The slide expected next, painted (or known to need no painting) ahead of time."""

    slide: Slide
    resolve: Resolve
    generation: int
    scene: Scene | None  # None: it is the slide on screen again, a still picture


@dataclass(frozen=True, slots=True)
class _Checkin:
    url: str | None  # None: no card
    label: str
    code: Matrix | None


@dataclass(slots=True)
class _Fade:
    start: float
    seconds: float
    shown: float  # how much of the new picture the canvas already holds (0..1)


class Stage:
    """Plays `playlist` (the fallback content) on `screen` until told otherwise.

    `resolve` maps an asset name to its file (None if unknown); a Path is taken as
    the fallback content folder. `on_impression` hears of every slide that leaves
    the screen, `on_shown` of every slide's first full frame (with its screenshot
    path, if the screen keeps screenshots). Both are called on the render thread.
    """

    def __init__(
        self,
        screen: Screen,
        playlist: Sequence[Slide],
        resolve: Resolve | Path,
        *,
        on_impression: Callable[[Impression], None],
        on_shown: Callable[[Showing, Path | None], None] = lambda _s, _p: None,
        fps: int = 30,
        crossfade_ms: int = 600,
        image_cache_bytes: int = 16 << 20,
    ) -> None:
        if not playlist:
            raise ValueError("a stage needs at least one slide")
        self.screen = screen
        self.frames = 0
        """Frames presented so far."""
        self.last_frame_monotonic = time.monotonic()
        """When a frame was last presented or confirmed still on screen (at least 1/s)."""
        self.crossfade_s = max(0, crossfade_ms) / 1000
        self._frame_s = 1 / max(1, fps)
        self._on_impression = on_impression
        self._on_shown = on_shown
        self._quiet = QuietLog(log)
        self._images = Images(image_cache_bytes, on_error=self._image_failed)
        # requests from other threads
        self._lock = threading.Lock()
        self._wake = threading.Event()
        self._personal: queue.Queue[Personal] = queue.Queue(maxsize=64)
        self._requested: _Playlist | None = None
        self._reload_requested = False
        self._checkin_requested: _Checkin | None = None
        self._shots: list[Future[bytes]] = []
        # render-thread state
        self._active = _Playlist(tuple(playlist), _resolver(resolve), fallback=True)
        self._queued: _Playlist | None = None  # waits for the next slide boundary
        self._on_screen: Showing | None = None
        self._scene: Scene | None = None
        self._prepared: _Prepared | None = None
        self._generation = 0
        self._fade: _Fade | None = None
        self._cut = False  # the scene must be blitted whole at the next frame
        self._entered = 0.0  # when the scene was put up (monotonic)
        self._begun = False  # whether its clock has started (first frame drawn)
        self._last_present = -math.inf
        self._video_totals = {"decoded": 0, "dropped": 0}  # of closed video scenes
        # the check-in card (render thread)
        self._checkin = _Checkin(None, "", None)
        self._card: pygame.Surface | None = None
        self._corner_rect: pygame.Rect | None = None  # where it goes, once the canvas is known
        self._shadow: pygame.Surface | None = None  # the canvas's pixels under it, without it
        self._canvas_card = False  # whether the canvas's picture carries it

    # -- any thread ----------------------------------------------------------------
    def show(self, personal: Personal) -> None:
        """Thread-safe: preempt the playlist with `personal` (a full queue drops the oldest)."""
        while True:
            try:
                self._personal.put_nowait(personal)
                break
            except queue.Full:
                with contextlib.suppress(queue.Empty):
                    self._personal.get_nowait()
        self._wake.set()

    def set_playlist(
        self, slides: Sequence[Slide], resolve: Resolve, *, fallback: bool = False
    ) -> None:
        """Thread-safe: play `slides` (assets through `resolve`) from the next slide boundary.

        They start at once if only fallback content is playing. `fallback=True` marks
        them as fallback content in turn. A newer call replaces one not yet applied.
        """
        if not slides:
            raise ValueError("a playlist needs at least one slide")
        with self._lock:
            self._requested = _Playlist(tuple(slides), resolve, fallback)
        self._wake.set()

    def set_checkin(self, url: str | None, label: str = "Scan to check in") -> None:
        """Thread-safe: show a QR code of `url` with `label` under it on every slide; None: none.

        The card (QR square 17 % of the screen's short side, white quiet zone
        included, whole-pixel modules) sits in the bottom-right corner of every slide,
        playlist or personal, in either orientation and through crossfades. Slides of
        kind "qr" go without it (see CARDLESS_KINDS); coupons keep their QR code and
        picture clear of that corner. A new `url` or `label` replaces the card on the
        picture at once: no transition, no repaint of the slide, its timing and
        impression untouched. The same `url` and `label` again change nothing.
        Raises ContentRejected (on the calling thread) if `url` cannot be a QR code.
        """
        # error correction L (raised where the version allows): a screen is not a torn
        # sticker, and fewer modules mean larger ones in the same small corner
        code = None if url is None else qr_matrix(url, error="l")
        with self._lock:
            self._checkin_requested = _Checkin(url, label, code)
        self._wake.set()

    def request_screenshot(self) -> Future[bytes]:
        """Thread-safe: PNG bytes of the next presented frame (the canvas, as viewers see it)."""
        future: Future[bytes] = Future()
        with self._lock:
            self._shots.append(future)
        self._wake.set()
        return future

    def reload(self) -> None:
        """Thread-safe: read every asset again through resolve and repaint what is on screen."""
        with self._lock:
            self._reload_requested = True
        self._wake.set()

    @property
    def video_counters(self) -> dict[str, int]:
        """Video frames decoded and dropped (decoded too late to show) since the start."""
        counts = dict(self._video_totals)
        scene = self._scene
        if isinstance(scene, VideoScene):
            counts["decoded"] += scene.feed.decoded
            counts["dropped"] += scene.feed.dropped
        return counts

    # -- render thread -------------------------------------------------------------
    def run(self, stop: threading.Event) -> None:
        """Render until `stop` is set or the window is closed; ends the last slide's impression."""
        player = Player(self._active.slides, time.monotonic())
        try:
            while not stop.is_set():
                if not self.screen.pump():
                    stop.set()
                    break
                self._step(player, time.monotonic())
                self.last_frame_monotonic = time.monotonic()
                self._sleep(player)
        finally:
            self._close()
            self._on_impression(player.finish(time.monotonic()))

    def _step(self, player: Player, now: float) -> None:
        with self._lock:
            requested, self._requested = self._requested, None
            reload, self._reload_requested = self._reload_requested, False
            checkin, self._checkin_requested = self._checkin_requested, None
            shots, self._shots = self._shots, []
        if checkin is not None:
            self._set_card(checkin)
        if requested is not None:
            self._queued = requested
            self._drop_prepared()
        done: list[Impression] = []
        while True:
            try:
                done += player.preempt(self._personal.get_nowait(), now)
            except queue.Empty:
                break
        queued = self._queued
        if queued is not None and (
            self._active.fallback or player.showing.personal or now >= player.showing.until
        ):
            done += player.replace_playlist(queued.slides, now)
            self._active, self._queued = queued, None
            self._drop_prepared()
        done += player.advance(now)
        for impression in done:
            self._on_impression(impression)
        if reload:
            self._reload()
        if player.showing is not self._on_screen:
            self._enter(player.showing)
        self._draw()
        if shots:
            self._send_screenshot(shots)
        if self._fade is None and not self._cut and self._prepared is None:
            self._prepare_next(player)

    def _sleep(self, player: Player) -> None:
        """Wait for the next deadline (slide end, frame due), a request, or MAX_SLEEP_S."""
        due = player.showing.until
        if not self._begun and self._scene is not None:  # a video's first frame is coming
            due = min(due, time.monotonic() + self._frame_s / 2)
        elif self._fade is not None or self._cut:
            due = min(due, self._last_present + self._frame_s)
        elif self._scene is not None:
            change = self._scene.next_change()
            if change < math.inf:
                due = min(due, max(change, self._last_present + self._frame_s))
        timeout = min(MAX_SLEEP_S, due - time.monotonic())
        if timeout > 0:
            self._wake.wait(timeout)
        self._wake.clear()

    # slides ----------------------------------------------------------------------
    def _resolve_for(self, showing: Showing) -> Resolve:
        """Playlist slides use their playlist's assets; personal ones the newest known."""
        if showing.personal is not None and self._queued is not None:
            return self._queued.resolve
        return self._active.resolve

    def _build(self, slide: Slide, resolve: Resolve) -> Scene:
        size = self.screen.canvas.get_size()
        corner = self._corner()
        scene: Scene
        if slide.kind == "video":
            scene = VideoScene(
                slide,
                size,
                resolve,
                self._images,
                on_error=self._video_failed,
                poll_s=self._frame_s / 2,
                corner=corner,
            )
        else:
            scene = Scene(slide, size, resolve, self._images, corner)
        if scene.surface is not None and self._card is not None and _carries_card(scene):
            scene.surface.blit(self._card, corner)
        return scene

    def _enter(self, showing: Showing) -> None:
        """Put `showing` on screen: reuse or paint its scene, then fade or cut to it."""
        resolve = self._resolve_for(showing)
        prepared, self._prepared = self._prepared, None
        old, self._on_screen = self._scene, showing
        matches = (
            prepared is not None
            and prepared.slide == showing.slide
            and prepared.resolve is resolve
            and prepared.generation == self._generation
        )
        if matches and prepared is not None and prepared.scene is None and old is not None:
            self._shown(showing)  # the same still picture again: nothing to draw
            return
        if prepared is not None and prepared.scene is not None and not matches:
            prepared.scene.close()
        scene = prepared.scene if matches and prepared is not None else None
        if scene is None:
            scene = self._build(showing.slide, resolve)
        if old is not None:
            self._retire(old)
        self._scene, self._entered, self._begun = scene, time.monotonic(), False
        # a fade takes at most half the slide, so a short slide is fully seen
        fade_s = min(self.crossfade_s, (showing.until - showing.started) / 2)
        if showing.slide.transition == "crossfade" and fade_s > 0 and self.frames:
            self._fade, self._cut = _Fade(time.monotonic(), fade_s, 0.0), False
        else:
            self._fade, self._cut = None, True

    def _prepare_next(self, player: Player) -> None:
        """Paint the slide expected next, so it is ready before the current one ends."""
        scene = self._scene
        if scene is None:
            return
        until = player.showing.until
        peek = copy.copy(player)  # the Player is pure: ask a copy what comes next
        playlist = self._active
        if self._queued is not None:
            peek.replace_playlist(self._queued.slides, until)
            playlist = self._queued
        peek.advance(until)
        upcoming = peek.showing
        resolve = playlist.resolve  # after any slide comes a playlist slide, never a personal one
        still = upcoming.slide == scene.slide and resolve is scene.resolve and not scene.moving
        self._prepared = _Prepared(
            upcoming.slide,
            resolve,
            self._generation,
            None if still else self._build(upcoming.slide, resolve),
        )

    def _retire(self, scene: Scene) -> None:
        """Close the scene that was on screen, keeping its video counters."""
        scene.close()
        if isinstance(scene, VideoScene):
            self._video_totals["decoded"] += scene.feed.decoded
            self._video_totals["dropped"] += scene.feed.dropped

    def _drop_prepared(self) -> None:
        if self._prepared is not None and self._prepared.scene is not None:
            self._prepared.scene.close()
        self._prepared = None

    def _reload(self) -> None:
        self._images.clear()
        self._generation += 1
        self._drop_prepared()
        if self._on_screen is not None and self._scene is not None:
            self._retire(self._scene)
            self._scene = self._build(self._on_screen.slide, self._resolve_for(self._on_screen))
            self._entered, self._begun = time.monotonic(), False
            self._fade, self._cut = None, True

    # frames ----------------------------------------------------------------------
    def _draw(self) -> None:
        """Present a frame if one is due: a crossfade step, a cut, or a new video frame."""
        scene = self._scene
        now = time.monotonic()
        if scene is None or now < self._last_present + self._frame_s * 0.9:
            return
        if not self._begun:
            if not scene.ready() and now < self._entered + READY_WAIT_S:
                return  # the previous picture stays up meanwhile
            scene.begin(now)
            self._begun = True
        canvas = self.screen.canvas
        picture = scene.surface if scene.surface is not None else canvas
        changed = scene.draw(now, picture)
        if changed is not None:
            self._keep_card(scene, picture, changed)
        fade = self._fade
        if fade is not None and picture is not canvas:
            target = min(1.0, (now - fade.start) / fade.seconds)
            if target < 1.0:
                # canvas = old*(1-shown) + new*shown; one more blend of `new` at alpha
                # step moves it to `target` without keeping a copy of the old picture
                step = round(255 * (target - fade.shown) / (1 - fade.shown))
                if step <= 0:
                    return
                if fade.shown == 0:  # the card stays crisp through the fade, not faded in
                    self._canvas_card = _carries_card(scene)
                    if self._canvas_card:
                        self._lay_card(canvas, self._canvas_under(), card=True)
                picture.set_alpha(step)
                canvas.blit(picture, (0, 0))
                picture.set_alpha(None)
                if scene.under is not None:  # the canvas without the card fades alike
                    scene.under.set_alpha(step)
                    self._canvas_under().blit(scene.under, (0, 0))
                    scene.under.set_alpha(None)
                fade.shown += (1 - fade.shown) * step / 255
                self._present(now)
                return
            self._cut = True
        if self._cut and picture is not canvas:
            canvas.blit(picture, (0, 0))
            if scene.under is not None:
                self._canvas_under().blit(scene.under, (0, 0))
            self._canvas_card = _carries_card(scene)
            scene.settle()
            self._fade, self._cut = None, False
            self._present(now)
            if self._on_screen is not None:
                self._shown(self._on_screen)
        elif changed is not None:
            self._present(now)

    # the check-in card -------------------------------------------------------------
    def _corner(self) -> pygame.Rect:
        if self._corner_rect is None:
            self._corner_rect = checkin_corner(self.screen.canvas.get_size())
        return self._corner_rect

    def _canvas_under(self) -> pygame.Surface:
        if self._shadow is None:
            self._shadow = self.screen.canvas.subsurface(self._corner()).copy()
        return self._shadow

    def _set_card(self, checkin: _Checkin) -> None:
        """Lay the new card (or none) on every picture that carries one, and show it."""
        old = self._checkin
        if checkin.url == old.url and (checkin.url is None or checkin.label == old.label):
            return
        self._checkin = checkin
        self._card = (
            None
            if checkin.code is None
            else checkin_card(self.screen.canvas.get_size(), checkin.code, checkin.label)
        )
        pending = [self._scene, self._prepared.scene if self._prepared else None]
        for scene in pending:  # pictures not (or not yet wholly) on the canvas
            if scene is not None and scene.surface is not None and scene.under is not None:
                self._lay_card(scene.surface, scene.under, _carries_card(scene))
        if self.frames:  # something is on screen: change it in place
            self._lay_card(self.screen.canvas, self._canvas_under(), self._canvas_card)
            self._present(time.monotonic())

    def _lay_card(self, target: pygame.Surface, under: pygame.Surface, card: bool) -> None:
        """The corner of `target` as the slide has it (`under`), with the card on it if `card`."""
        corner = self._corner()
        target.blit(under, corner)
        if card and self._card is not None:
            target.blit(self._card, corner)

    def _keep_card(self, scene: Scene, picture: pygame.Surface, changed: pygame.Rect) -> None:
        """After a video frame: keep what it drew in the corner, and lay the card over it."""
        corner = self._corner()
        clip = changed.clip(corner)
        if not clip.w or not clip.h or scene.under is None:
            return
        inside = clip.move(-corner.x, -corner.y)
        scene.under.blit(picture, inside, area=clip)
        if picture is self.screen.canvas:
            self._canvas_under().blit(picture, inside, area=clip)
        if self._card is not None and _carries_card(scene):
            picture.blit(self._card, clip, area=inside)

    def _present(self, now: float) -> None:
        self.screen.present()
        self.frames += 1
        self._last_present = self.last_frame_monotonic = now

    def _shown(self, showing: Showing) -> None:
        shot = self.screen.screenshot(
            f"{'personal' if showing.personal else 'playlist'}-{showing.slide.id}"
        )
        self._on_shown(showing, shot)

    def _send_screenshot(self, futures: list[Future[bytes]]) -> None:
        """Copy the canvas's pixels (~2 ms) and PNG-encode them in a helper thread.

        zlib lets go of the GIL while it compresses, so playback does not stall for
        the ~100 ms that pygame's own PNG writer would hold it.
        """
        canvas = self.screen.canvas
        pixels = pygame.image.tobytes(canvas, "RGB")
        threading.Thread(
            target=_send_png,
            args=(pixels, canvas.get_size(), futures),
            name="edge-screenshot",
            daemon=True,
        ).start()

    def _close(self) -> None:
        scenes = [self._scene, self._prepared.scene if self._prepared else None]
        for scene in scenes:
            if scene is not None:
                scene.close()
        for scene in scenes:
            if isinstance(scene, VideoScene):
                scene.feed.join(timeout=2)
        self._scene = self._prepared = None
        with self._lock:
            shots, self._shots = self._shots, []
        for future in shots:
            if future.set_running_or_notify_cancel():
                future.set_exception(RuntimeError("the stage stopped before the next frame"))

    # problems --------------------------------------------------------------------
    def _image_failed(self, name: str, why: str) -> None:
        self._quiet.problem(f"image:{name}", "image %r cannot be loaded: %s", name, why)

    def _video_failed(self, name: str, why: str) -> None:
        self._quiet.problem(
            f"video:{name}", "video %r cannot be played (%s): showing a placeholder", name, why
        )


def _carries_card(scene: Scene) -> bool:
    return scene.slide.kind not in CARDLESS_KINDS


def _resolver(resolve: Resolve | Path) -> Resolve:
    if isinstance(resolve, Path):
        folder = resolve
        return lambda name: image_path(folder, name)
    return resolve


def png(pixels: bytes, size: tuple[int, int], level: int = 3) -> bytes:
    """An RGB PNG of `pixels` (rows of width * 3 bytes, top first)."""
    width, height = size
    stride = width * 3
    rows = b"".join(
        b"\x00" + pixels[y * stride : (y + 1) * stride]  # filter type 0 on every row
        for y in range(height)
    )

    def chunk(kind: bytes, data: bytes) -> bytes:
        return (
            struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))
        )

    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", header)
        + chunk(b"IDAT", zlib.compress(rows, level))
        + chunk(b"IEND", b"")
    )


def _send_png(pixels: bytes, size: tuple[int, int], futures: list[Future[bytes]]) -> None:
    try:
        data: bytes | None = png(pixels, size)
        error: BaseException | None = None
    except (ValueError, MemoryError, zlib.error) as exc:
        data, error = None, exc
    for future in futures:
        if not future.set_running_or_notify_cancel():
            continue
        if data is not None:
            future.set_result(data)
        else:
            future.set_exception(error or RuntimeError("no PNG"))
