"""Gets events into the outbox: grouped to spare the SD card, held in memory while it cannot.

The daemon's own events (visits, impressions, health) are grouped into one
transaction per `group_s` or `group_max` events, whichever comes first: at
most that much is at risk in a crash, and the card sees one fsync instead of
a hundred. Events from outside that must not be lost (a check-in, a command)
use `commit_now`, and the caller acknowledges them to the broker only if it
returns True.

When the disk is full or read-only, events wait in memory (bounded; over the
bound low-value kinds go first, then the oldest, each drop counted) and the
writer retries every `retry_s`: the screen keeps playing meanwhile.
"""

from __future__ import annotations

import asyncio
import logging
from collections import Counter
from collections.abc import Callable, Mapping
from typing import Any

from edge.outbox.store import LOW_VALUE, Outbox, StorageError
from edge.quiet import QuietLog

log = logging.getLogger(__name__)
Event = Mapping[str, Any]


class EventWriter:
    def __init__(
        self,
        outbox: Outbox,
        *,
        group_s: float = 0.05,
        group_max: int = 100,
        memory_max: int = 10_000,
        retry_s: float = 5.0,
        on_written: Callable[[], None] = lambda: None,
    ) -> None:
        self._outbox = outbox
        self._group_s, self._group_max = group_s, group_max
        self._memory_max, self._retry_s = memory_max, retry_s
        self._on_written = on_written
        self._pending: list[Event] = []
        self._timer: asyncio.TimerHandle | None = None
        self._quiet = QuietLog(log)
        self.storage_ok = True
        self.dropped_in_memory: Counter[str] = Counter()

    @property
    def held(self) -> int:
        """Events accepted by the writer but not yet committed."""
        return len(self._pending)

    def add(self, event: Event) -> None:
        """Queue one of the daemon's own events; committed within `group_s`."""
        self._pending.append(event)
        if len(self._pending) > self._memory_max:
            self._shed()
        if len(self._pending) >= self._group_max and self.storage_ok:
            self.flush()
        elif self._timer is None:
            delay = self._group_s if self.storage_ok else self._retry_s
            self._timer = asyncio.get_running_loop().call_later(delay, self.flush)

    def commit_now(self, events: list[Event]) -> bool:
        """Commit `events` (after anything queued) now; False if storage refused them.

        Refused events are not kept: the caller did not acknowledge them, so the
        broker delivers them again, and keeping them too would store them twice.
        """
        if not self.flush():
            return False
        try:
            self._outbox.append(events)
        except StorageError as exc:
            self._failed(exc)
            return False
        self._on_written()
        return True

    def flush(self) -> bool:
        """Commit everything queued; True if it is all on disk."""
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        if not self._pending and not self.dropped_in_memory:
            return True
        try:
            self._outbox.append(self._pending, dropped=self.dropped_in_memory)
        except StorageError as exc:
            self._failed(exc)
            return False
        if not self.storage_ok:
            log.info("outbox writes again; %d held events committed", len(self._pending))
        self.storage_ok = True
        self._pending.clear()
        self.dropped_in_memory.clear()
        self._on_written()
        return True

    def _failed(self, exc: StorageError) -> None:
        if self.storage_ok:
            log.error("%s; keeping events in memory, retrying every %.0f s", exc, self._retry_s)
        else:
            self._quiet.problem("storage", "outbox still cannot write: %s", exc)
        self.storage_ok = False
        if self._timer is None:
            self._timer = asyncio.get_running_loop().call_later(self._retry_s, self.flush)

    def _shed(self) -> None:
        """Over the memory bound: drop one event, low-value kinds first, counted."""
        for i, event in enumerate(self._pending):
            if event["type"] in LOW_VALUE:
                victim = self._pending.pop(i)
                break
        else:
            victim = self._pending.pop(0)
        self.dropped_in_memory[str(victim["type"])] += 1
