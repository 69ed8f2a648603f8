"""The common approach of open presence gateways, as a named baseline for the benchmarks.

A plain exponential moving average of RSSI per beacon, a distance threshold
for entering, and an absence timeout for leaving (checked on a tick).
"""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass
class MovingAverageTracker:
    alpha: float = 0.3
    exponent: float = 2.2
    enter_m: float = 2.5
    absence_s: float = 8.0
    _level: dict[str, float] = field(default_factory=dict)
    _heard: dict[str, float] = field(default_factory=dict)
    _inside: set[str] = field(default_factory=set)

    def observe(
        self, visitor: str, tx_1m: int | None, rssi: int, t: float
    ) -> list[tuple[str, str, float]]:
        level = self._level.get(visitor)
        level = float(rssi) if level is None else level + self.alpha * (rssi - level)
        self._level[visitor] = level
        distance = 10 ** (((tx_1m if tx_1m is not None else -59) - level) / (10 * self.exponent))
        if distance <= self.enter_m:
            self._heard[visitor] = t
            if visitor not in self._inside:
                self._inside.add(visitor)
                return [("visit.enter", visitor, t)]
        return []

    def tick(self, now: float) -> list[tuple[str, str, float]]:
        gone = [v for v in self._inside if now - self._heard[v] >= self.absence_s]
        for v in gone:
            self._inside.discard(v)
        return [("visit.exit", v, now) for v in gone]
