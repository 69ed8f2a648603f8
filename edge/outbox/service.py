"""The outbox as the daemon uses it: events recorded, committed off the loop, synced, kept.

`record` is how every part of the device makes an event (id, time and clock
state stamped here, once); `commit_now` is for what came from outside and
must be on disk before the broker is told so. Online, the sync task sends
batches and the `P/events/ack` route deletes what central stored.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable
from typing import Any

from edge.config import Config
from edge.ids import new_id
from edge.link.router import Route
from edge.link.schemas import EventsAck, parse
from edge.link.schemas.events import event_as_recorded
from edge.link.session import Incoming, MqttLink
from edge.link.topics import Topics
from edge.outbox import clockfix
from edge.outbox.clockfix import Clocks
from edge.outbox.retention import corrupt_copies, keep_retention, remove
from edge.outbox.store import Outbox, StorageError
from edge.outbox.sync import Syncer
from edge.outbox.worker import OutboxThread
from edge.outbox.writer import EventWriter
from edge.runtime.service import Figures, Service
from edge.runtime.supervisor import Task

log = logging.getLogger(__name__)
Event = dict[str, Any]


class OutboxService(Service):
    name = "outbox"

    def __init__(
        self,
        config: Config,
        outbox: OutboxThread,
        *,
        clock_synced: Callable[[], bool],
        prune_memory: Callable[[], None] = lambda: None,
        clocks: Callable[[], Clocks] | None = None,
    ) -> None:
        """`clocks`: one reading of the wall clock, its sync state and the boot clock
        (tests pass a fake to jump the clock)."""
        self._config = config
        self.outbox = outbox
        self._clock_synced = clock_synced
        self._prune_memory = prune_memory
        s = config.storage
        self.writer = EventWriter(
            outbox,
            group_s=max(s.group_ms / 1000, s.hold_s),
            group_max=s.group_max,
            memory_max=s.memory_max,
            on_written=self._written,
        )
        self.syncer: Syncer | None = None
        self._figures: dict[str, int] = {}
        self._boot_id = clockfix.boot_id()
        self._clocks = clocks or self._system_clocks
        self._unsynced_offset: int | None = None  # wall - boot, last seen unsynchronised
        self._clock_fixed = False
        self.clock_corrected = 0
        """Events whose `ts` this device corrected once the clock synchronised."""

    def _system_clocks(self) -> Clocks:
        return Clocks(
            int(time.time() * 1000), self._clock_synced(), self._boot_id, clockfix.boot_ms()
        )

    # -- making events ---------------------------------------------------------------
    def event(self, type_: str, fields: dict[str, Any]) -> Event:
        """A new event of the protocol: a UUIDv7 id, `ts` and whether to trust it.

        Checked against its type's struct (edge/link/schemas/events.py) and stored as that
        struct encodes it, so the outbox holds only what the contract describes; a field
        the struct does not know is a bug and raises (the supervisor logs and counts it).
        """
        clocks = self._clocks()
        if not clocks.synced:
            self._unsynced_offset = clockfix.offset_ms(clocks)
        raw = {"id": new_id(), "type": type_, **clockfix.stamp(clocks), **fields}
        return event_as_recorded(raw)

    def record(self, type_: str, fields: dict[str, Any]) -> None:
        """One of the device's own events; committed within the group time."""
        self.writer.add(self.event(type_, fields))

    async def commit_now(self, events: list[Event]) -> bool:
        """Events from outside: True once on disk (then the broker may be told)."""
        return await self.writer.commit_now(events)

    # -- online ----------------------------------------------------------------------
    def online(self, link: MqttLink) -> None:
        sync = self._config.sync
        self.syncer = Syncer(self.outbox, link, ack_timeout_s=sync.ack_timeout_s)

    def offline(self) -> None:
        self.syncer = None

    def routes(self, topics: Topics) -> list[Route]:
        return [Route("events_ack", self._ack, topic=topics.events_ack)]

    async def _ack(self, item: Incoming) -> bool:
        if self.syncer is not None:
            await self.syncer.ack(parse(item.topic, item.payload, EventsAck).batch_id)
        return True

    def sync_task(self) -> Task:
        assert self.syncer is not None
        return Task("sync", self.syncer.run)

    def _written(self) -> None:
        if self.syncer is not None:
            self.syncer.wake()

    # -- always ----------------------------------------------------------------------
    def tasks(self) -> list[Task]:
        return [Task("retention", self._retention), Task("clock", self._watch_clock)]

    async def _watch_clock(self, every_s: float = clockfix.RECHECK_S) -> None:
        """Correct this boot's events once the clock synchronises (also after a restart)."""
        while not self._clock_fixed:
            await self.check_clock()
            await asyncio.sleep(every_s)

    async def check_clock(self) -> bool:
        """One look at the clock; True once it is synchronised and this boot's events are
        corrected. Sending never waited for this: batches went out meanwhile."""
        clocks = self._clocks()
        offset = clockfix.offset_ms(clocks)
        if not clocks.synced:
            self._unsynced_offset = offset
            return False
        if self._clock_fixed:
            return True
        await self.writer.flush()  # held events are corrected on disk with the others
        self.writer.rewrite_held(lambda e: clockfix.corrected(e, clocks.boot_id, offset))
        try:
            count = await self.outbox.run(Outbox.correct_clock, clocks.boot_id, offset)
        except StorageError as exc:
            log.warning("cannot correct the time of stored events yet: %s", exc)
            return False
        self._clock_fixed = True
        self.clock_corrected += count
        if count or self._unsynced_offset is not None:
            step = offset - (self._unsynced_offset if self._unsynced_offset is not None else offset)
            log.info("clock synchronised (moved %+d ms): %d waiting events corrected", step, count)
            self.record(
                "clock.corrected",
                {
                    "boot_id": clocks.boot_id,
                    "offset_ms": offset,
                    "step_ms": step,
                    "corrected": count,
                },
            )
        return True

    async def _retention(self) -> None:
        await keep_retention(
            self.outbox,
            retention_days=self._config.privacy.event_retention_days,
            clock_synced=self._clock_synced,
            prune_memory=self._prune_memory,
        )

    async def refresh_figures(self) -> None:
        """Read the outbox's cheap figures on its thread, for the next `health()`."""

        def read(o: Outbox) -> dict[str, int]:
            dropped = o.dropped()
            figures = {"outbox_pending": o.pending(), "outbox_bytes": o.file_bytes()}
            figures.update({f"dropped_{k}": v for k, v in dropped.items()})
            figures["dropped_total"] = sum(dropped.values())
            return figures

        try:
            self._figures = await self.outbox.run(read)
        except StorageError as exc:
            log.debug("outbox figures not readable: %s", exc)

    def health(self) -> Figures:
        return {
            **self._figures,
            "storage_ok": int(self.writer.storage_ok),
            "events_in_memory": self.writer.held,
        }

    async def pending(self) -> int:
        return await self.outbox.run(Outbox.pending)

    async def status(self) -> dict[str, Any]:
        return await self.outbox.run(Outbox.status)

    async def drain(self, budget_s: float) -> None:
        """On the way out: what is held goes to disk, what is on disk to central (briefly)."""
        await self.writer.flush()
        if self.syncer is not None:
            await self.syncer.drain(budget_s)

    async def purge(self, forms: frozenset[str]) -> tuple[int, int, tuple[str, ...], int]:
        """Delete a visitor's events (held ones are committed first, so none escapes) and the
        corrupt outbox copies (they cannot be edited safely). Returns (events, re-queued
        others, the nonces their check-ins used, copies removed)."""
        if not await self.writer.flush():  # answered as failed; central sends a new command
            raise StorageError("the outbox cannot write now; nothing was purged")
        purged = await self.outbox.run(Outbox.purge_visitor, forms)
        copies = remove(corrupt_copies(self.outbox.path))  # small files; rare
        return purged.events, purged.released, purged.nonces, copies
