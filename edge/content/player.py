"""What is on screen now, and the impressions that produced. Pure: `now` is passed in.

The playlist loops; a personal slide preempts it for `show_ms`, then the
playlist resumes at the slide it interrupted (shown again from its start).
A newer personal slide replaces the current one. Every slide that leaves
the screen yields one Impression with how long it was shown.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from edge.content.slides import Slide


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


@dataclass(frozen=True, slots=True)
class Showing:
    """One stint of one slide on screen."""

    slide: Slide
    started: float
    until: float
    personal: Personal | None = None


@dataclass(frozen=True, slots=True)
class Impression:
    showing: Showing
    shown_ms: int

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


class Player:
    def __init__(self, playlist: Sequence[Slide], now: float) -> None:
        if not playlist:
            raise ValueError("a player needs at least one slide")
        self._playlist = tuple(playlist)
        self._index = 0
        self.showing = self._playlist_showing(now)

    def _playlist_showing(self, now: float) -> Showing:
        slide = self._playlist[self._index]
        return Showing(slide, now, now + slide.duration_ms / 1000)

    def _end(self, now: float) -> Impression:
        shown = self.showing
        return Impression(shown, max(0, round((min(now, shown.until) - shown.started) * 1000)))

    def advance(self, now: float) -> list[Impression]:
        """Move time to `now`; returns the impressions of slides that ended."""
        done: list[Impression] = []
        while now >= self.showing.until:
            done.append(self._end(now))
            end = self.showing.until
            if self.showing.personal is None:
                self._index = (self._index + 1) % len(self._playlist)
            # Back to back normally; after a stall, start fresh rather than replay the gap.
            self.showing = self._playlist_showing(end if now - end < 1.0 else now)
        return done

    def preempt(self, personal: Personal, now: float) -> list[Impression]:
        """Show `personal` now for its show_ms; returns the impressions it ends."""
        done = self.advance(now)
        done.append(self._end(now))
        self.showing = Showing(personal.slide, now, now + personal.show_ms / 1000, personal)
        return done

    def finish(self, now: float) -> Impression:
        """The impression of what is on screen as the screen goes away."""
        return self._end(now)

    def replace_playlist(self, playlist: Sequence[Slide], now: float) -> list[Impression]:
        """New content: start it at once unless a personal slide is up (it finishes first)."""
        if not playlist:
            raise ValueError("a player needs at least one slide")
        self._playlist, self._index = tuple(playlist), 0
        if self.showing.personal is not None:
            return []
        done = [self._end(now)]
        self.showing = self._playlist_showing(now)
        return done
