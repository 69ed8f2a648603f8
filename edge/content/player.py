"""What is on screen now, and the impressions that produced. Pure: `now` is passed in.

The playlist loops. Ticker slides take no turn of their own: their messages run in
the band beside the other slides, one message per turn (`Showing.ticker`,
`Showing.turn`).

Personal slides get fair airtime (`offer`):

- in any rolling 60 s, personal slides fill at most `share_max` of the screen time
  (default 0.5). A personal slide is shown for the `show_ms` central asked, or
  shortened to what the share leaves (if that is at least `MIN_PERSONAL_S`), or
  deferred: it waits, at most its `wait_ms` (the decision's `ttl_ms`), and is then
  dropped and counted;
- one personal slide never cuts another short: a newer one waits its turn (a newer
  one for the same visit replaces one still waiting); and after a personal slide the
  playlist plays a slide (up to `PLAYLIST_TURN_S`) before the next personal one;
- a personal slide interrupts a playlist slide; the playlist resumes where it left
  off: at the slide it interrupted (shown again from its start) if that one had not
  yet been on screen long enough to count, else at the next one;
- a personal slide whose visitor has left by the time it would show is skipped
  and not counted (`depart`).

Impressions: every stint that leaves the screen yields one Impression. Its
`shown_ms` is how long it was fully on screen: from `fully_shown` (the Stage calls
it when the crossfade is done) to its end; it `counts` if that is at least the
slide's `min_impression_ms`. A Player built with `awaits_full=False` (tests,
tools) takes every stint as fully on screen from its start.
"""

from __future__ import annotations

import math
from collections import Counter, deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from edge.content.slides import Slide, TickerSlide

WINDOW_S = 60.0
"""The rolling window of the personal share."""

MIN_PERSONAL_S = 3.0
"""A personal slide is shortened to what the share leaves, but never below this (or below
its `min_impression_ms`): shorter than that it is deferred instead."""

PLAYLIST_TURN_S = 4.0
"""After a personal slide the playlist's slide plays (up to this long) before the next
personal one, so the store's own content is never crowded out by a queue of visitors."""

GONE_KEPT_S = 600.0
"""How long a departed visit is remembered, so a late decision for it is skipped too."""


@dataclass(frozen=True, slots=True)
class Personal:
    """A decision's slide plus what its impression must carry."""

    slide: Slide
    show_ms: int
    request_id: str | None  # None: not from a decision (an offline segment offer)
    visitor: str | None
    content_id: str
    campaign_id: str | None
    variant: str | None
    wait_ms: int = 0  # how long it may wait for airtime (the decision's ttl_ms)
    visit_id: str | None = None  # the visit it answers: skipped once that visit ends
    resolve: Callable[[str], Path | None] | None = field(default=None, compare=False)
    """Where its assets are (a decision's images by SHA-256); None: the playlist's."""


@dataclass(frozen=True, slots=True)
class Showing:
    """One stint of one slide on screen."""

    slide: Slide
    started: float
    until: float
    personal: Personal | None = None
    ticker: TickerSlide | None = None  # whose messages run in the band meanwhile
    turn: int = 0  # which of them (modulo their number)


@dataclass(frozen=True, slots=True)
class Impression:
    showing: Showing
    shown_ms: int  # fully on screen, in ms
    counts: bool = True  # shown_ms reached the slide's min_impression_ms
    seen: bool = True  # it was fully on screen at all (else it never finished coming on)

    def event_fields(self) -> dict[str, object]:
        """The `impression` event fields of docs/protocol.md."""
        p = self.showing.personal
        return {
            "content_id": p.content_id if p else self.showing.slide.id,
            "campaign_id": p.campaign_id if p else None,
            "variant": p.variant if p else None,
            "request_id": p.request_id if p else None,
            "visitor": p.visitor if p else None,
            "shown_ms": self.shown_ms,
        }


@dataclass(slots=True)
class _Waiting:
    personal: Personal
    since: float
    deadline: float
    deferred: bool = False


class Player:
    def __init__(
        self,
        playlist: Sequence[Slide],
        now: float,
        *,
        share_max: float = 0.5,
        awaits_full: bool = False,
    ) -> None:
        if not playlist:
            raise ValueError("a player needs at least one slide")
        self.share_max = min(1.0, max(0.0, share_max))
        self._awaits_full = awaits_full
        self._set(playlist)
        self._index = 0
        self._turns = 0
        self._personal_log: deque[tuple[float, float]] = deque()  # ended personal stints
        self._waiting: deque[_Waiting] = deque()
        self._gone: dict[str, float] = {}
        self._playlist_turn_until = -math.inf  # a waiting personal slide waits until then
        self.counters: Counter[str] = Counter()
        """shortened, deferred, expired (dropped after waiting), departed (skipped)."""
        self.showing = self._playlist_showing(now)
        self._full_at: float | None = None if awaits_full else now

    # -- the playlist -------------------------------------------------------------------
    def _set(self, playlist: Sequence[Slide]) -> None:
        tickers = [s for s in playlist if isinstance(s, TickerSlide)]
        turns = [s for s in playlist if not isinstance(s, TickerSlide)]
        self._ticker = tickers[0] if tickers and turns else None
        self._playlist = tuple(turns or playlist)

    @property
    def ticker(self) -> TickerSlide | None:
        """The ticker whose messages run beside the playlist (None: no band)."""
        return self._ticker

    def _playlist_showing(self, now: float) -> Showing:
        slide = self._playlist[self._index]
        self._turns += 1
        return Showing(slide, now, now + slide.duration_ms / 1000, None, self._ticker, self._turns)

    def next_playlist(self) -> Showing:
        """What the playlist shows next when the current stint ends (for painting ahead)."""
        index = self._index
        if self.showing.personal is None:
            index = (index + 1) % len(self._playlist)
        slide = self._playlist[index]
        at = self.showing.until
        return Showing(
            slide, at, at + slide.duration_ms / 1000, None, self._ticker, self._turns + 1
        )

    # -- stints -------------------------------------------------------------------------
    def _end(self, now: float) -> Impression:
        shown = self.showing
        end = min(now, shown.until)
        if shown.personal is not None:
            self._personal_log.append((shown.started, end))
        full = self._full_at
        ms = 0 if full is None else max(0, round((end - min(full, end)) * 1000))
        seen = full is not None
        return Impression(shown, ms, seen and ms >= shown.slide.min_impression_ms, seen)

    def _begin(self, showing: Showing, now: float) -> None:
        self.showing = showing
        self._full_at = None if self._awaits_full else showing.started

    def fully_shown(self, now: float) -> None:
        """The Stage: the current stint is wholly on screen now (its transition is done)."""
        if self._full_at is None:
            self._full_at = min(now, self.showing.until)

    def advance(self, now: float) -> list[Impression]:
        """Move time to `now`; returns the impressions of stints that ended."""
        done: list[Impression] = []
        while True:
            self._expire(now)
            if (
                self.showing.personal is None
                and self._waiting
                and self._playlist_turn_until <= now < self.showing.until
                and self._admit(now, done)
            ):
                continue
            if now < self.showing.until:
                return done
            done.append(self._end(now))
            end = self.showing.until
            at = end if now - end < 1.0 else now  # after a stall, start fresh
            if self.showing.personal is None:
                self._index = (self._index + 1) % len(self._playlist)
                if self._waiting and self._admit(at, done, ended=True):
                    continue
                self._begin(self._playlist_showing(at), at)
            else:  # the store's playlist gets its turn before the next personal slide
                self._begin(self._playlist_showing(at), at)
                self._playlist_turn_until = min(self.showing.until, at + PLAYLIST_TURN_S)

    def _admit(self, now: float, done: list[Impression], ended: bool = False) -> bool:
        """Put the first waiting personal slide on screen if the share allows; True if so."""
        while self._waiting:
            first = self._waiting[0]
            seconds = self.airtime(now)
            want = first.personal.show_ms / 1000
            floor = max(MIN_PERSONAL_S, first.personal.slide.min_impression_ms / 1000)
            if seconds < min(want, floor):
                if not first.deferred:
                    first.deferred = True
                    self.counters["deferred"] += 1
                return False
            self._waiting.popleft()
            if seconds < want:
                self.counters["shortened"] += 1
            if not ended:
                cut = self._end(now)
                done.append(cut)
                if cut.counts and cut.showing.personal is None:  # seen: move on afterwards
                    self._index = (self._index + 1) % len(self._playlist)
            p = first.personal
            length = min(want, seconds)
            self._begin(Showing(p.slide, now, now + length, p, self._ticker, self._turns + 1), now)
            self._turns += 1
            return True
        return False

    def _expire(self, now: float) -> None:
        kept: deque[_Waiting] = deque()
        for w in self._waiting:
            if now > w.deadline:
                self.counters["expired"] += 1
            else:
                kept.append(w)
        self._waiting = kept
        while self._personal_log and self._personal_log[0][1] <= now - WINDOW_S:
            self._personal_log.popleft()

    # -- fair airtime -----------------------------------------------------------------------
    def _personal_between(self, start: float, now: float) -> float:
        """Personal screen time in [start, now] (the current stint counted up to now)."""
        stints = list(self._personal_log)
        if self.showing.personal is not None:
            stints.append((self.showing.started, now))
        return sum(max(0.0, min(e, now) - max(s, start)) for s, e in stints)

    def airtime(self, now: float) -> float:
        """How long a personal slide starting `now` may stay within the share: the largest d
        with personal time in (t - 60 s, t] at most share x 60 s for every t up to now + d."""
        budget = self.share_max * WINDOW_S
        if self._personal_between(now - WINDOW_S, now) >= budget:
            return 0.0
        lo, hi = 0.0, budget
        for _ in range(24):  # f(d) = P(now + d - 60, now) + d is non-decreasing
            mid = (lo + hi) / 2
            if self._personal_between(now + mid - WINDOW_S, now) + mid <= budget:
                lo = mid
            else:
                hi = mid
        return lo

    def offer(self, personal: Personal, now: float) -> list[Impression]:
        """A personal slide to show: now if the share allows (interrupting the playlist),
        later if it must wait (at most `wait_ms`), never if its visit has ended."""
        done = self.advance(now)
        key = personal.visit_id
        if key is not None and key in self._gone:
            self.counters["departed"] += 1
            return done
        if key is not None:  # a newer decision for the same visit replaces one waiting
            before = len(self._waiting)
            self._waiting = deque(w for w in self._waiting if w.personal.visit_id != key)
            self.counters["replaced"] += before - len(self._waiting)
        self._waiting.append(_Waiting(personal, now, now + personal.wait_ms / 1000))
        if self.showing.personal is None and now >= self._playlist_turn_until:
            self._admit(now, done)  # else it waits for the end of the playlist's turn
        if self._waiting and self._waiting[-1].personal is personal and personal.wait_ms <= 0:
            if not self._waiting[-1].deferred:
                self.counters["deferred"] += 1
            self._waiting.pop()  # cannot wait at all: dropped at once
            self.counters["expired"] += 1
        return done

    def depart(self, visit_id: str, now: float) -> int:
        """The visit ended: its waiting personal slides are skipped (not shown, not counted
        as impressions); returns how many."""
        self._gone[visit_id] = now
        if len(self._gone) > 4096:
            self._gone = {k: t for k, t in self._gone.items() if now - t < GONE_KEPT_S}
        before = len(self._waiting)
        self._waiting = deque(w for w in self._waiting if w.personal.visit_id != visit_id)
        skipped = before - len(self._waiting)
        self.counters["departed"] += skipped
        return skipped

    @property
    def waiting(self) -> int:
        """Personal slides waiting for airtime."""
        return len(self._waiting)

    # -- forced changes ---------------------------------------------------------------------
    def preempt(self, personal: Personal, now: float) -> list[Impression]:
        """Show `personal` now for its show_ms whatever the share (tests, tools); returns
        the impressions it ends."""
        done = self.advance(now)
        done.append(self._end(now))
        self._turns += 1
        showing = Showing(
            personal.slide, now, now + personal.show_ms / 1000, personal, self._ticker, self._turns
        )
        self._begin(showing, now)
        return done

    def finish(self, now: float) -> Impression:
        """The impression of what is on screen as the screen goes away."""
        return self._end(now)

    def replace_playlist(self, playlist: Sequence[Slide], now: float) -> list[Impression]:
        """New content: start it at once unless a personal slide is up (it finishes first)."""
        if not playlist:
            raise ValueError("a player needs at least one slide")
        self._set(playlist)
        self._index = 0
        if self.showing.personal is not None:
            return []
        done = [self._end(now)]
        self._begin(self._playlist_showing(now), now)
        return done
