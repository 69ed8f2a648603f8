"""What one run of the device did: the demo's summary and the benchmarks read it."""

from __future__ import annotations

from dataclasses import dataclass, field

AIRTIME = ("shortened", "deferred", "expired", "departed")


@dataclass
class Stats:
    visitors: set[str] = field(default_factory=set)
    decisions: int = 0
    impressions: int = 0  # recorded: fully on screen for at least min_impression_ms
    shown: int = 0  # "slide shown" lines: stints that came fully on screen
    too_short: int = 0  # shown, but left before min_impression_ms: no impression
    events_synced: int = 0
    events_pending: int = 0
    adverts: int = 0
    frames: int = 0
    airtime: dict[str, int] = field(default_factory=dict)
    """Personal slides shortened, deferred, expired and departed (the Player's counters)."""

    def summary(self) -> dict[str, int]:
        return {
            "visitors_seen": len(self.visitors),
            "decisions": self.decisions,
            "impressions": self.impressions,
            "slides_shown": self.shown,
            "shown_too_short": self.too_short,
            **{f"personal_{k}": self.airtime.get(k, 0) for k in AIRTIME},
            "events_synced": self.events_synced,
            "events_pending": self.events_pending,
        }
