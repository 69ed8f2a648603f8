"""What one run of the device did: the demo's summary and the benchmarks read it."""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass
class Stats:
    visitors: set[str] = field(default_factory=set)
    decisions: int = 0
    impressions: int = 0
    events_synced: int = 0
    events_pending: int = 0
    adverts: int = 0
    frames: int = 0

    def summary(self) -> dict[str, int]:
        return {
            "visitors_seen": len(self.visitors),
            "decisions": self.decisions,
            "impressions": self.impressions,
            "events_synced": self.events_synced,
            "events_pending": self.events_pending,
        }
