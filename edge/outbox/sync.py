"""The sync loop: outbox → `P/events`, one batch in flight, until central acknowledges it.

A broker PUBACK is not an acknowledgement; only `P/events/ack` naming the
batch is. An unacknowledged batch is resent with the same id, at once after
a reconnect, otherwise after a timeout that doubles (with jitter) up to a cap.

When there was nothing to send and new events arrive, the loop lingers `linger_s`
before it makes the next batch, so a quiet store sends one batch of many events rather
than many batches of one: each batch costs two transactions (marking it, deleting it
on the ack), which is most of what the SD card sees (docs/deployment.md "SD card
wear"). Once the linger is over, the batch waits for the writer's next commit when one
is due (`next_commit_in`): made and acknowledged right after that commit, its two small
transactions reach the card with it in one write-back instead of a trip of their own.
A backlog is sent batch after batch without lingering; `drain` cuts it short.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
import time
from collections.abc import Callable

from edge.link.session import MqttLink
from edge.outbox.store import Outbox, StorageError
from edge.outbox.worker import OutboxThread
from edge.quiet import QuietLog

log = logging.getLogger(__name__)
MAX_BACKOFF_S = 300.0
COMMIT_GRACE_S = 5.0  # how long past its due time a batch waits for the writer's commit


class Syncer:
    def __init__(
        self,
        outbox: OutboxThread,
        link: MqttLink,
        *,
        batch_max_events: int,
        ack_timeout_s: float,
        batch_max_bytes: int = 64_000,
        linger_s: float = 0.0,
        next_commit_in: Callable[[], float | None] = lambda: None,
    ) -> None:
        self._outbox = outbox
        self._link = link
        self._batch_max_events = batch_max_events
        self._batch_max_bytes = batch_max_bytes
        self._ack_timeout_s = ack_timeout_s
        self._linger_s = linger_s
        self._next_commit_in = next_commit_in
        self._hurry = asyncio.Event()
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
                batch = await self._outbox.run(
                    Outbox.next_batch,
                    link.topics.device_id,
                    self._batch_max_events,
                    self._batch_max_bytes,
                )
            except StorageError as exc:
                self._quiet.problem("storage", "cannot prepare a batch: %s; retrying", exc)
                await asyncio.sleep(self._ack_timeout_s)
                continue
            if batch is None:
                await self._wake.wait()
                await self._linger()
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

    async def _linger(self) -> None:
        """Let more events gather before the next batch, then wait for the next commit to go
        with it (unless `drain` hurries us)."""
        if not self._linger_s or self._hurry.is_set():
            return
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._hurry.wait(), self._linger_s)
        due = self._next_commit_in()
        if due is not None and not self._hurry.is_set():
            self._wake.clear()  # set again by the writer's next commit
            # bounded: a commit that fails does not wake us
            await _first_of(self._wake, self._hurry, timeout_s=due + COMMIT_GRACE_S)

    async def drain(self, budget_s: float) -> None:
        """Wait (while `run` goes on) until nothing is pending, the link drops, or time is up."""
        self._hurry.set()  # no more lingering: everything goes now
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
