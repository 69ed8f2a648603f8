"""`omo-edge outbox drain`: push every pending event to central now, with progress.

For ops with a device that was offline for long, or before swapping its SD
card. The daemon must not run at the same time (the state-dir lock says so).
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Callable
from pathlib import Path

from edge.clock import clock_synced
from edge.config import Config
from edge.errors import EdgeError, PayloadRejected
from edge.link.schemas import EventsAck, parse
from edge.link.session import BrokerSettings, MqttLink
from edge.link.topics import Topics
from edge.outbox.store import Outbox
from edge.outbox.sync import Syncer

Progress = Callable[[int, int, float | None], None]  # sent, total, seconds left (None: unknown)


async def drain(cfg: Config, progress: Progress, connect_timeout_s: float = 30.0) -> int:
    """Send until the outbox is empty; returns how many events central acknowledged."""
    if not cfg.provisioned:
        raise EdgeError("device is not provisioned (store id, device id or broker missing)")
    m, d = cfg.mqtt, cfg.device
    topics = Topics(m.prefix, d.store_id, d.device_id)
    broker = BrokerSettings.from_config(m)
    with Outbox(Path(cfg.storage.path)) as outbox:
        total = outbox.pending()
        if total == 0:
            progress(0, 0, 0.0)
            return 0
        link = MqttLink(topics, broker, asyncio.get_running_loop(), clock_synced)
        syncer = Syncer(
            outbox,
            link,
            batch_max_events=cfg.sync.batch_max_events,
            batch_max_bytes=cfg.sync.batch_max_bytes,
            ack_timeout_s=float(cfg.sync.ack_timeout_s),
        )
        link.start()
        try:
            try:
                await asyncio.wait_for(link.connected.wait(), connect_timeout_s)
            except TimeoutError as exc:
                raise EdgeError(f"cannot reach the broker at {broker.host}:{broker.port}") from exc
            tasks = [asyncio.create_task(syncer.run()), asyncio.create_task(_acks(link, syncer))]
            started = time.monotonic()
            try:
                while outbox.pending():
                    done = syncer.synced
                    rate = done / max(1e-6, time.monotonic() - started)
                    progress(done, total, (total - done) / rate if done else None)
                    await asyncio.sleep(0.2)
            finally:
                for task in tasks:
                    task.cancel()
                await asyncio.gather(*tasks, return_exceptions=True)
            progress(syncer.synced, total, 0.0)
            return syncer.synced
        finally:
            await asyncio.to_thread(link.stop)


async def _acks(link: MqttLink, syncer: Syncer) -> None:
    """Hand `P/events/ack` to the syncer; anything else waits for the daemon (not acked)."""
    while True:
        item = await link.incoming.get()
        if item.topic == link.topics.events_ack:
            with contextlib.suppress(PayloadRejected):
                syncer.ack(parse(item.topic, item.payload, EventsAck).batch_id)
            link.ack(item)
