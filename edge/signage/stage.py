"""The render loop: owns the main thread, the Screen and the Player.

Other threads talk to it only through the thread-safe methods it inherits from
`StageInbox` (`show`, `depart`, `set_playlist`, `set_checkin`, `request_screenshot`,
`reload`; stage_inbox.py), which queue a request and wake the loop. The loop asks
the pure Player what is on screen, paints the next slide off-screen before the
current one ends, cuts or crossfades to it (never through black), plays video
frames as they fall due, and otherwise sleeps until the next deadline: an
unchanged slide is neither repainted nor presented. It writes a screenshot of the
first full frame of every slide and hands finished impressions back through a
callback.

Personal slides (`show`) get fair airtime from the Player: at most
`personal_share_max` of any rolling 60 s, deferred (within their `wait_ms`) or
shortened to stay within it, skipped once their visit has ended (`depart`).
A slide's impression counts only if it was fully on screen (its crossfade done)
for its `min_impression_ms`; `on_impression` hears of every stint that reached
the screen whole, counted or not, so what was shown and what counts add up.

The check-in card (a QR code and a label, see `set_checkin`) sits in its own
zone in the bottom-right corner, which every layout keeps clear, on every slide
but those with a QR code of their own (one code on screen at a time). It is
painted into each scene as it is built, so it costs nothing per frame; a new
code is laid over the old one on the canvas (and on any scene not yet on screen)
and presented at once; a card that appears, goes or changes size has the slide
on screen painted again around its zone.
The slide's own pixels under the card are kept (`Scene.under`, and the overlay's
`canvas_under()` for the canvas, blended along with every crossfade step), so
taking the card away needs no repaint either; video frames that reach the corner
update them and get the card laid over them again before they are presented.

Around the loop: `scene_deck` (the scene on screen and the one painted ahead),
`card_overlay` (the check-in card) and `screenshots` (slide files, PNG bytes).
"""

from __future__ import annotations

import dataclasses
import logging
import math
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

from edge.content.fallback import image_path
from edge.content.player import Impression, Player, Showing
from edge.content.slides import Slide
from edge.quiet import QuietLog
from edge.signage.card_overlay import CARDLESS_KINDS, CardOverlay, Checkin, carries_card
from edge.signage.scene_deck import SceneDeck
from edge.signage.scenes import Images, Resolve, Spec
from edge.signage.screen import Screen
from edge.signage.screenshots import send_png
from edge.signage.stage_inbox import Playlist, StageInbox

__all__ = ["CARDLESS_KINDS", "MAX_SLEEP_S", "READY_WAIT_S", "Stage"]

log = logging.getLogger(__name__)

MAX_SLEEP_S = 0.1
"""The loop wakes at least this often to pump window events and confirm it is alive."""

READY_WAIT_S = 0.5
"""How long the previous picture stays up while a video slide waits for its first frame."""


@dataclass(slots=True)
class _Fade:
    start: float
    seconds: float
    shown: float  # how much of the new picture the canvas already holds (0..1)


class Stage(StageInbox):
    """Plays `playlist` (the fallback content) on `screen` until told otherwise.

    `resolve` maps an asset name to its file (None if unknown); a Path is taken as
    the fallback content folder. `on_impression` hears of every slide that leaves
    the screen after it was wholly on it (`Impression.counts` says whether it was
    long enough), `on_shown` of every slide's first full frame (with its screenshot
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
        personal_share_max: float = 0.5,
    ) -> None:
        if not playlist:
            raise ValueError("a stage needs at least one slide")
        self.screen = screen
        self.frames = 0
        """Frames presented so far."""
        self.last_frame_monotonic = time.monotonic()
        """When a frame was last presented or confirmed still on screen (at least 1/s)."""
        self.crossfade_s = max(0, crossfade_ms) / 1000
        self.personal_share_max = personal_share_max
        self._frame_s = 1 / max(1, fps)
        self._on_impression = on_impression
        self._on_shown = on_shown
        self._quiet = QuietLog(log)
        images = Images(image_cache_bytes, on_error=self._image_failed)
        super().__init__()  # the requests other threads queue (stage_inbox.py)
        self.airtime: dict[str, int] = {}
        """The Player's personal-slide counters (shortened, deferred, expired, departed)."""
        # render-thread state
        self._active = Playlist(tuple(playlist), _resolver(resolve), fallback=True)
        self._queued: Playlist | None = None  # waits for the next slide boundary
        self._on_screen: Showing | None = None
        self._fade: _Fade | None = None
        self._cut = False  # the scene must be blitted whole at the next frame
        self._entered = 0.0  # when the scene was put up (monotonic)
        self._begun = False  # whether its clock has started (first frame drawn)
        self._last_present = -math.inf
        self._repainted = False  # the next cut repaints the slide on screen: not a new stint
        self._overlay = CardOverlay(screen)  # the check-in card (render thread)
        self._deck = SceneDeck(
            screen, images, self._overlay, frame_s=self._frame_s, on_video_error=self._video_failed
        )

    @property
    def video_counters(self) -> dict[str, int]:
        """Video frames decoded and dropped (decoded too late to show) since the start."""
        return self._deck.video_counters()

    # -- render thread -------------------------------------------------------------
    def run(self, stop: threading.Event) -> None:
        """Render until `stop` is set or the window is closed; ends the last slide's impression."""
        player = Player(
            self._active.slides,
            time.monotonic(),
            share_max=self.personal_share_max,
            awaits_full=True,
        )
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
            self._report([player.finish(time.monotonic())])
            self.airtime = dict(player.counters)

    def _step(self, player: Player, now: float) -> None:
        asked = self._take()
        if asked.checkin is not None:
            self._set_card(asked.checkin)
        if asked.playlist is not None:
            self._queued = asked.playlist
            self._deck.drop_prepared()
        done: list[Impression] = []
        for visit_id in self._departures():
            player.depart(visit_id, now)
        for personal in self._personals():
            done += player.offer(personal, now)
        queued = self._queued
        if queued is not None and (
            self._active.fallback or player.showing.personal or now >= player.showing.until
        ):
            done += player.replace_playlist(queued.slides, now)
            self._active, self._queued = queued, None
            self._deck.drop_prepared()
        done += player.advance(now)
        self._report(done)
        self.airtime = dict(player.counters)
        if asked.reload:
            self._reload()
        elif asked.repaint and self._on_screen is not None and self._on_screen.personal:
            self._reload(images=False)  # a decision's image arrived after it went up
        if player.showing is not self._on_screen:
            self._enter(player.showing, player)
        self._draw(player)
        if asked.shots:
            send_png(self.screen.canvas, asked.shots)  # encoded in a helper thread
        if self._fade is None and not self._cut and self._deck.prepared is None:
            self._prepare_next(player)

    def _sleep(self, player: Player) -> None:
        """Wait for the next deadline (slide end, frame due), a request, or MAX_SLEEP_S."""
        due = player.showing.until
        scene = self._deck.current
        if not self._begun and scene is not None:  # a video's first frame is coming
            due = min(due, time.monotonic() + self._frame_s / 2)
        elif self._fade is not None or self._cut:
            due = min(due, self._last_present + self._frame_s)
        elif scene is not None:
            change = scene.next_change()
            if change < math.inf:
                due = min(due, max(change, self._last_present + self._frame_s))
        timeout = min(MAX_SLEEP_S, due - time.monotonic())
        if timeout > 0:
            self._wake.wait(timeout)
        self._wake.clear()

    # slides ----------------------------------------------------------------------
    def _report(self, done: list[Impression]) -> None:
        """Hand on the impressions of stints that were wholly on screen (counted or not)."""
        for impression in done:
            if impression.seen:
                self._on_impression(impression)

    def _resolve_for(self, showing: Showing) -> Resolve:
        """Playlist slides use their playlist's assets; personal ones their own (a decision's
        images by SHA-256) or the newest known."""
        p = showing.personal
        base = self._active.resolve
        if p is not None and self._queued is not None:
            base = self._queued.resolve
        own = None if p is None else p.resolve
        if own is None:
            return base
        return lambda name: own(name) or base(name)

    def _spec(self, showing: Showing) -> Spec:
        """What `showing`'s picture depends on: the slide, the band's message, the layout,
        and the check-in card's zone."""
        ticker = showing.ticker
        message = showing.turn % len(ticker.messages) if ticker else 0
        layout = self._active.layout if self._queued is None else self._queued.layout
        return Spec(showing.slide, ticker, message, layout, self._overlay.zone())

    def _enter(self, showing: Showing, player: Player) -> None:
        """Put `showing` on screen: reuse or paint its scene, then fade or cut to it."""
        self._on_screen = showing
        if not self._deck.enter(self._spec(showing), self._resolve_for(showing)):
            player.fully_shown(time.monotonic())
            self._shown(showing)  # the same still picture again: nothing to draw
            return
        self._entered, self._begun = time.monotonic(), False
        # a fade takes at most half the slide, so a short slide is fully seen
        fade_s = min(self.crossfade_s, (showing.until - showing.started) / 2)
        if showing.slide.transition == "crossfade" and fade_s > 0 and self.frames:
            self._fade, self._cut = _Fade(time.monotonic(), fade_s, 0.0), False
        else:
            self._fade, self._cut = None, True

    def _prepare_next(self, player: Player) -> None:
        """Paint the slide expected next, so it is ready before the current one ends."""
        if self._deck.current is None:
            return
        playlist = self._active
        if self._queued is not None:
            upcoming = Player(self._queued.slides, player.showing.until)
            upcoming.showing = dataclasses.replace(
                upcoming.showing, turn=player.next_playlist().turn
            )
            nxt, playlist = upcoming.showing, self._queued
        else:
            nxt = player.next_playlist()
        # after any slide a playlist slide is expected (a personal one is painted on demand)
        self._deck.prepare(self._spec(nxt), playlist.resolve)

    def _reload(self, *, images: bool = True) -> None:
        """Read every asset again (`images`: decoded ones too) and repaint what is on
        screen (cut to it, no fade)."""
        showing = self._on_screen
        again = None if showing is None else (self._spec(showing), self._resolve_for(showing))
        if self._deck.reload(again, images=images):
            self._repainted = self._begun and self._fade is None  # the same stint again
            self._entered, self._begun = time.monotonic(), False
            self._fade, self._cut = None, True

    # frames ----------------------------------------------------------------------
    def _draw(self, player: Player) -> None:
        """Present a frame if one is due: a crossfade step, a cut, or a new video frame."""
        scene = self._deck.current
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
            self._overlay.keep(scene, picture, changed)
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
                    self._overlay.on_canvas = carries_card(scene)
                    if self._overlay.on_canvas:
                        self._overlay.lay(canvas, self._overlay.canvas_under(), card=True)
                picture.set_alpha(step)
                canvas.blit(picture, (0, 0))
                picture.set_alpha(None)
                if scene.under is not None:  # the canvas without the card fades alike
                    scene.under.set_alpha(step)
                    self._overlay.canvas_under().blit(scene.under, (0, 0))
                    scene.under.set_alpha(None)
                fade.shown += (1 - fade.shown) * step / 255
                self._present(now)
                return
            self._cut = True
        if self._cut and picture is not canvas:
            canvas.blit(picture, (0, 0))
            if scene.under is not None:
                self._overlay.canvas_under().blit(scene.under, (0, 0))
            self._overlay.on_canvas = carries_card(scene)
            scene.settle()
            self._fade, self._cut = None, False
            self._present(now)
            if self._on_screen is not None and not self._repainted:
                player.fully_shown(now)
                self._shown(self._on_screen)
            self._repainted = False
        elif changed is not None:
            self._present(now)

    # the check-in card -------------------------------------------------------------
    def _set_card(self, checkin: Checkin) -> None:
        """Lay the new card (or none) on every picture that carries one, and show it; paint
        the slide again when the card's zone changed (it appeared, went or grew)."""
        changed, zone_changed = self._overlay.replace(checkin)
        if not changed:
            return
        if zone_changed:
            self._deck.drop_prepared()
            showing = self._on_screen
            if showing is not None:
                again = (self._spec(showing), self._resolve_for(showing))
                if self._deck.reload(again, images=False):
                    # the same stint, painted again: its clock and impression go on
                    self._repainted = self._begun and self._fade is None
                    self._entered, self._begun = time.monotonic(), False
                    self._fade, self._cut = None, True
            return
        # something on screen: change it in place
        self._overlay.relay(self._deck.pending(), canvas=bool(self.frames))
        if self.frames:
            self._present(time.monotonic())

    def _present(self, now: float) -> None:
        self.screen.present()
        self.frames += 1
        self._last_present = self.last_frame_monotonic = now

    def _shown(self, showing: Showing) -> None:
        shot = self.screen.screenshot(
            f"{'personal' if showing.personal else 'playlist'}-{showing.slide.id}"
        )
        self._on_shown(showing, shot)

    def _close(self) -> None:
        self._deck.close()
        self._fail_shots()

    # problems --------------------------------------------------------------------
    def _image_failed(self, name: str, why: str) -> None:
        self._quiet.problem(f"image:{name}", "image %r cannot be loaded: %s", name, why)

    def _video_failed(self, name: str, why: str) -> None:
        self._quiet.problem(
            f"video:{name}", "video %r cannot be played (%s): showing a placeholder", name, why
        )


def _resolver(resolve: Resolve | Path) -> Resolve:
    if isinstance(resolve, Path):
        folder = resolve
        return lambda name: image_path(folder, name)
    return resolve
