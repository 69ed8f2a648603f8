"""When a scanner that had been hearing adverts falls silent, and how long to wait next.

Pure bookkeeping, times passed in (monotonic seconds): `BleakSource` acts on
it. Armed only once adverts have flowed (an adapter with nothing to hear is
fine); each fruitless action doubles the wait, up to `stall_max`.
"""

from __future__ import annotations


class StallWatchdog:
    """Counts fruitless actions (`level`) since adverts stopped; `None` timeout disables it."""

    def __init__(self, stall_timeout: float | None, stall_max: float) -> None:
        self._stall_timeout = stall_timeout
        self._stall_max = stall_max
        self.last_advert: float | None = None
        self.scan_started = 0.0
        self.level = 0

    def heard(self, now: float) -> bool:
        """An advert at `now`; True if adverts were stalled until then (level goes to 0)."""
        self.last_advert = now
        was_stalled = self.level > 0
        self.level = 0
        return was_stalled

    def started(self, now: float) -> None:
        """A scanner (re)started at `now`: the silence is measured from here too."""
        self.scan_started = now

    def stalled(self) -> int:
        """The watchdog fired: returns the new level (1: restart, 2 and up: power cycle)."""
        self.level += 1
        return self.level

    def silent_for(self, now: float) -> float:
        """Seconds since the last advert (or the last start, if none)."""
        return now - (self.last_advert or self.scan_started)

    def period(self) -> float:
        """The wait before the next action at the current level."""
        assert self._stall_timeout is not None
        doubling = 2.0 ** max(self.level - 1, 0)
        return min(self._stall_timeout * doubling, self._stall_max)

    def delay(self, now: float) -> float | None:
        """Seconds from `now` until the watchdog fires, None while it is disarmed.

        Measured from the last advert or the last (re)start.
        """
        if self._stall_timeout is None or self.last_advert is None:
            return None
        since = max(self.last_advert, self.scan_started)
        return max(0.0, since + self.period() - now)
