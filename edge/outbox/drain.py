"""`omo-edge outbox drain`: push every pending event to central now, with progress.

For ops with a device that was offline for long, or before swapping its SD
card. The daemon must not run at the same time (the state-dir lock says so).
It uses the daemon's own parts: the outbox service, its sync task and the
`P/events/ack` route; messages meant for the daemon (check-ins, commands)
are left unacknowledged, so the broker delivers them to the daemon later.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable

from edge.clock import clock_synced
from edge.config import Config
from edge.errors import EdgeError
from edge.link.router import TopicRouter, serve_inbox
from edge.link.session import BrokerSettings, MqttLink
from edge.link.topics import Topics
from edge.outbox.service import OutboxService
from edge.outbox.worker import OutboxThread
from edge.runtime.supervisor import Supervisor, Task

Progress = Callable[[int, int, float | None], None]  # sent, total, seconds left (None: unknown)


async def drain(cfg: Config, progress: Progress, connect_timeout_s: float = 30.0) -> int:
    """Send until the outbox is empty; returns how many events central acknowledged."""
    if not cfg.provisioned:
        raise EdgeError("device is not provisioned (store id, device id or broker missing)")
    async with OutboxThread.for_config(cfg) as box:
        outbox = OutboxService(cfg, box, clock_synced=clock_synced)
        total = await outbox.pending()
        if total == 0:
            progress(0, 0, 0.0)
            return 0
        topics = Topics(cfg.mqtt.prefix, cfg.device.store_id, cfg.device.device_id)
        broker = BrokerSettings.from_config(cfg.mqtt)
        link = MqttLink(topics, broker, asyncio.get_running_loop(), clock_synced)
        outbox.online(link)
        router = TopicRouter(ack_unrouted=False)
        router.add(*outbox.routes(topics))
        link.start()
        try:
            try:
                await asyncio.wait_for(link.connected.wait(), connect_timeout_s)
            except TimeoutError as exc:
                raise EdgeError(f"cannot reach the broker at {broker.host}:{broker.port}") from exc
            syncer = outbox.syncer
            assert syncer is not None
            async with Supervisor() as tasks:
                tasks.start(outbox.sync_task(), Task("inbox", lambda: serve_inbox(link, router)))
                started = time.monotonic()
                while await outbox.pending():
                    done = syncer.synced
                    rate = done / max(1e-6, time.monotonic() - started)
                    progress(done, total, (total - done) / rate if done else None)
                    await asyncio.sleep(0.2)
            progress(syncer.synced, total, 0.0)
            return syncer.synced
        finally:
            await asyncio.to_thread(link.stop)
