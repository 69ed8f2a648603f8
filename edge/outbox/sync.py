"""The sync loop: outbox → `P/events`, one batch in flight, until central acknowledges it.

A broker PUBACK is not an acknowledgement; only `P/events/ack` naming the
batch is. An unacknowledged batch is resent with the same id, at once after
a reconnect, otherwise after a timeout that doubles (with jitter) up to a cap.

Batches are made when events are committed (edge/outbox/packing.py), so the loop
sends as soon as the writer has committed: sending writes nothing, and an ack is
written with the writer's next commit (edge/outbox/store.py), so the SD card sees
one transaction per commit however many batches go (docs/deployment.md "SD card
wear"). A backlog is sent batch after batch; `drain` waits for it to empty.
"""

from __future__ import annotations

import asyncio
import logging
import random
import time

from edge.link.session import MqttLink
from edge.outbox.store import Outbox, StorageError
from edge.outbox.worker import OutboxThread
from edge.quiet import QuietLog

log = logging.getLogger(__name__)
MAX_BACKOFF_S = 300.0


class Syncer:
    def __init__(
        self,
        outbox: OutboxThread,
        link: MqttLink,
        *,
        ack_timeout_s: float,
    ) -> None:
        self._outbox = outbox
        self._link = link
        self._ack_timeout_s = ack_timeout_s
        self._retry_now = asyncio.Event()  # a drain began: no waiting out an ack backoff
        self._wake = asyncio.Event()
        self._acked = asyncio.Event()
        self._in_flight: str | None = None
        self._quiet = QuietLog(log)
        self.synced = 0

    def wake(self) -> None:
        """New events are in the outbox."""
        self._wake.set()

    async def ack(self, batch_id: str) -> int:
        """Central stored `batch_id`: delete its events; returns how many."""
        try:
            count = await self._outbox.run(Outbox.ack, batch_id)
        except StorageError as exc:  # the batch is resent and acknowledged again later
            self._quiet.problem("storage", "cannot delete acknowledged events: %s", exc)
            return 0
        if count:
            self.synced += count
            log.info("batch synced: %d events acknowledged by central", count)
        if batch_id == self._in_flight:
            self._acked.set()
        return count

    async def pending(self) -> int:
        return await self._outbox.run(Outbox.pending)

    async def run(self) -> None:
        link, timeout = self._link, self._ack_timeout_s
        while True:
            await link.connected.wait()
            self._wake.clear()  # before looking: a write during the look wakes us again
            try:
                batch = await self._outbox.run(Outbox.next_batch, link.topics.device_id)
            except StorageError as exc:
                self._quiet.problem("storage", "cannot prepare a batch: %s; retrying", exc)
                await asyncio.sleep(self._ack_timeout_s)
                continue
            if batch is None:
                await self._wake.wait()
                continue
            self._in_flight = batch.batch_id
            self._acked.clear()
            link.publish(link.topics.events, batch.payload)
            await _first_of(self._acked, link.disconnected, self._retry_now, timeout_s=timeout)
            if self._acked.is_set():
                self._in_flight = None
                self._retry_now.clear()
                timeout = self._ack_timeout_s
                self._quiet.resolved("ack", "central acknowledges batches again")
            elif self._retry_now.is_set():  # e.g. shutting down after central came back
                self._retry_now.clear()
                timeout = self._ack_timeout_s
            elif link.connected.is_set():
                self._quiet.problem(
                    "ack", "no ack for batch %s within %.1f s; will resend", batch.batch_id, timeout
                )
                pause = random.uniform(0, timeout / 2)
                await _first_of(self._retry_now, timeout_s=pause)
                timeout = min(timeout * 2, MAX_BACKOFF_S)

    async def drain(self, budget_s: float) -> None:
        """Wait (while `run` goes on) until nothing is pending, the link drops, or time is up."""
        if self._in_flight is not None:  # a batch waiting out an ack backoff goes again now
            self._retry_now.set()
        deadline = time.monotonic() + budget_s
        while (
            self._link.connected.is_set() and time.monotonic() < deadline and await self.pending()
        ):
            await asyncio.sleep(0.02)


async def _first_of(*events: asyncio.Event, timeout_s: float) -> None:
    """Return when one of `events` is set or `timeout_s` has passed."""
    waits = {asyncio.create_task(event.wait()) for event in events}
    try:
        await asyncio.wait(waits, timeout=timeout_s, return_when=asyncio.FIRST_COMPLETED)
    finally:
        for task in waits:
            task.cancel()
