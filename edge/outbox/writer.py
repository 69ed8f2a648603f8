"""Gets events into the outbox: grouped to spare the SD card, held in memory while it cannot.

The daemon's own events (visits, impressions, health) are grouped into one
transaction of at most `group_max` events, committed once the oldest has
waited `group_s` or as soon as a group is full: at most that much is at risk
in a crash, and the card sees one fsync instead of a hundred. Events from
outside that must not be lost (a check-in, a command) use `commit_now`, and
the caller acknowledges them to the broker only if it returns True.

Commits run on the outbox thread (edge/outbox/worker.py): the event loop never
waits for the disk. When the disk is full or read-only, events wait in memory
(bounded; over the bound low-value kinds go first, then the oldest, each drop
counted) and the writer retries every `retry_s`: the screen keeps playing.
"""

from __future__ import annotations

import asyncio
import logging
from collections import Counter
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from edge.outbox.packing import LOW_VALUE
from edge.outbox.store import Outbox, StorageError
from edge.outbox.worker import OutboxThread
from edge.quiet import QuietLog

log = logging.getLogger(__name__)
Event = Mapping[str, Any]


class EventWriter:
    def __init__(
        self,
        outbox: OutboxThread,
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
        self._sending: list[Event] = []  # taken by the commit under way
        self._oldest = 0.0  # loop time the oldest pending event arrived
        self._failed_at = 0.0
        self._lock = asyncio.Lock()  # one commit at a time, in order
        self._timer: asyncio.TimerHandle | None = None
        self._task: asyncio.Task[None] | None = None
        self._quiet = QuietLog(log)
        self.storage_ok = True
        self.committed = 0
        """Events this writer has committed (commit_now included)."""
        self.commits = 0
        """Transactions that committed them."""
        self.dropped_in_memory: Counter[str] = Counter()

    @property
    def held(self) -> int:
        """Events accepted by the writer but not yet committed."""
        return len(self._pending) + len(self._sending)

    def add(self, event: Event) -> None:
        """Queue one of the daemon's own events; committed within `group_s`."""
        if not self._pending:
            self._oldest = asyncio.get_running_loop().time()
        self._pending.append(event)
        if self.held > self._memory_max:
            self._shed()
        self._schedule()

    def rewrite_held(self, fn: Callable[[Event], Event | None]) -> int:
        """Replace each held event not being committed by `fn(event)` where that is not
        None (the clock correction); returns how many changed."""
        changed = 0
        for i, event in enumerate(self._pending):
            new = fn(event)
            if new is not None:
                self._pending[i] = new
                changed += 1
        return changed

    async def commit_now(self, events: Sequence[Event]) -> bool:
        """Commit `events` (after anything queued) now; False if storage refused them.

        Refused events are not kept: the caller did not acknowledge them, so the
        broker delivers them again, and keeping them too would store them twice.
        """
        async with self._lock:
            ok = await self._commit(everything=True)
            if ok:
                try:
                    await self._outbox.run(Outbox.append, events)
                except StorageError as exc:
                    self._failed(exc)
                    ok = False
                else:
                    self.committed += len(events)
                    self.commits += 1
        self._schedule()
        if ok:
            self._on_written()
        return ok

    async def flush(self) -> bool:
        """Commit everything queued now; True if it is all on disk."""
        async with self._lock:
            done = await self._commit(everything=True)
        self._schedule()
        return done

    async def idle(self) -> None:
        """Wait until no commit is under way or due at once (tests, shutdown)."""
        while (self._task is not None and not self._task.done()) or self._lock.locked():
            await asyncio.sleep(0.001)

    # -- scheduling ------------------------------------------------------------------
    def _schedule(self) -> None:
        """Arrange the next commit: at once for a full group, else when the oldest held
        event has waited `group_s` (every `retry_s` while the disk refuses)."""
        if self._task is not None and not self._task.done():
            return  # the commit under way schedules the next one when it ends
        if not self._pending and not self.dropped_in_memory:
            return
        loop = asyncio.get_running_loop()
        if not self.storage_ok:
            at = self._failed_at + self._retry_s
        elif len(self._pending) >= self._group_max:
            at = loop.time()
        else:
            at = self._oldest + self._group_s
        if self._timer is not None:
            if self._timer.when() <= at:
                return
            self._timer.cancel()
        self._timer = loop.call_at(at, self._start)

    def _start(self) -> None:
        self._timer = None
        self._task = asyncio.get_running_loop().create_task(self._scheduled())

    async def _scheduled(self) -> None:
        loop = asyncio.get_running_loop()
        async with self._lock:
            due = not self.storage_ok or loop.time() >= self._oldest + self._group_s
            await self._commit(everything=due)
        self._task = None
        self._schedule()

    # -- committing (under the lock) ---------------------------------------------------
    async def _commit(self, *, everything: bool) -> bool:
        """Commit the held events and the drop counts: all in one transaction when
        `everything` (shutdown, a retry, before a `commit_now`), else only full groups
        of `group_max`. False if the disk refused."""
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        while self._pending or self.dropped_in_memory:
            if everything:
                size = len(self._pending)
            elif len(self._pending) >= self._group_max:
                size = self._group_max
            else:
                break
            self._sending = self._pending[:size]
            del self._pending[:size]
            dropped = Counter(self.dropped_in_memory)
            try:
                await self._outbox.run(Outbox.append, self._sending, dropped=dropped)
            except StorageError as exc:
                self._pending[:0] = self._sending  # back in front, in order
                self._sending = []
                self._failed(exc)
                return False
            if not self.storage_ok:
                log.info("outbox writes again; %d held events committed", len(self._sending))
            self.storage_ok = True
            self.committed += len(self._sending)
            self.commits += 1
            self._sending = []
            self.dropped_in_memory.subtract(dropped)
            self.dropped_in_memory = +self.dropped_in_memory  # zero counts gone
            self._on_written()
        return True

    def _failed(self, exc: StorageError) -> None:
        if self.storage_ok:
            log.error("%s; keeping events in memory, retrying every %.0f s", exc, self._retry_s)
        else:
            self._quiet.problem("storage", "outbox still cannot write: %s", exc)
        self.storage_ok = False
        self._failed_at = asyncio.get_running_loop().time()
        while self.held > self._memory_max and self._pending:
            self._shed()

    def _shed(self) -> None:
        """Over the memory bound: drop one held event, low-value kinds first, counted."""
        for i, event in enumerate(self._pending):
            if event["type"] in LOW_VALUE:
                victim = self._pending.pop(i)
                break
        else:
            if not self._pending:
                return
            victim = self._pending.pop(0)
        self.dropped_in_memory[str(victim["type"])] += 1
