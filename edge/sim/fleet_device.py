"""A simulated screen for fleet tests and benchmarks, made of the device's own parts.

Its outbox (`OutboxThread`, `OutboxService`: the same SQLite file layout, group
commits and budget), its sync (`Syncer`: one batch in flight, resend until acked),
its link (`MqttLink`: persistent MQTT 5 session, retained state and will,
full-jitter reconnect) and its decide requests (`Decider`) are the daemon's own
classes, wired as `edge/app/online.py` wires them. Left out: presence (visits
are made up at the issue's rates), rendering, content and commands.

Each simulated device has its own client id and SQLite outbox, and two threads,
like the daemon: the outbox thread and paho's network thread. Many devices share
one asyncio loop (one per process); a fleet is split over a few processes
(edge/sim/fleet.py).
"""

from __future__ import annotations

import asyncio
import logging
import random
import time
from pathlib import Path
from typing import Any

from edge.config.load import from_mapping
from edge.ids import new_id
from edge.link.decide import Decider
from edge.link.router import Route, TopicRouter, serve_inbox
from edge.link.schemas import Decision, parse
from edge.link.session import BrokerSettings, Incoming, MqttLink
from edge.link.topics import Topics
from edge.outbox.service import OutboxService
from edge.outbox.store import Outbox
from edge.outbox.worker import OutboxThread
from edge.runtime.supervisor import Supervisor, Task

log = logging.getLogger(__name__)


def synced() -> bool:
    return True


class SimDevice:
    """`await SimDevice(...).start()`, then `visit()`, `health()`, `stop()`."""

    def __init__(
        self,
        store_id: str,
        device_id: str,
        broker: BrokerSettings,
        state_dir: Path,
        *,
        ack_timeout_s: float = 10.0,
        decide_timeout_s: float = 0.8,
        hold_s: float = 0.0,
    ) -> None:
        """`hold_s`: the daemon's `[storage] hold_s`; 0 (the default here) sends every event
        within the 50 ms group commit, the worst case for the broker and the ingest; the
        daemon's default (120 s) sends about one batch per screen every 2 minutes
        (docs/fleet.md)."""
        self.topics = Topics("omo/v1", store_id, device_id)
        self.broker = broker
        self.path = state_dir / f"{device_id}.sqlite3"
        self.config = from_mapping(
            {
                "device": {"store_id": store_id, "device_id": device_id},
                "storage": {"path": str(self.path), "hold_s": hold_s},
                "sync": {"ack_timeout_s": ack_timeout_s},
            }
        )
        self.decide_timeout_s = decide_timeout_s
        self.committed: list[str] = []  # every event id recorded (what must reach central)
        self.connected_at: list[float] = []  # wall-clock time of each (re)connection
        self.decide_ms: list[float] = []
        self.decide_failed = 0
        self._box: OutboxThread | None = None
        self._tasks: Supervisor | None = None

    @property
    def device_id(self) -> str:
        return self.topics.device_id

    async def start(self, backlog: int = 0) -> None:
        """Open the outbox (with `backlog` events already pending, as after an outage), then
        connect; returns at once (the broker may be down)."""
        await self.open(backlog)
        await self.connect()

    async def open(self, backlog: int = 0) -> None:
        """The outbox, with `backlog` more events pending (as after a store's outage)."""
        box = OutboxThread(self.path)
        await box.__aenter__()
        self._box = box
        self.outbox = OutboxService(self.config, box, clock_synced=synced)
        if backlog:
            await self._preload(backlog)

    async def connect(self) -> None:
        """Start the link, the sync and the inbox (returns at once; the broker may be down)."""
        loop = asyncio.get_running_loop()
        self.link = MqttLink(self.topics, self.broker, loop, synced, state=self._state)
        self.outbox.online(self.link)
        self.decider = Decider(self.link, self.decide_timeout_s)
        router = TopicRouter()
        router.add(
            *self.outbox.routes(self.topics),
            Route("decision", self._decision, topic=self.topics.decision),
        )
        self._tasks = Supervisor()
        await self._tasks.__aenter__()
        self._tasks.start(
            self.outbox.sync_task(),
            Task("inbox", lambda: serve_inbox(self.link, router)),
            Task("watch", self._watch_connection),
        )
        self.link.start()

    async def _preload(self, count: int) -> None:
        for start in range(0, count, 500):
            events = []
            for n in range(start, min(count, start + 500)):
                visit = new_id()
                events.append(self.outbox.event("visit.exit", _visit(f"v-{n % 97}", visit, 4000)))
            if not await self.outbox.commit_now(events):
                raise RuntimeError(f"{self.device_id}: the outbox refused the backlog")
            self.committed.extend(e["id"] for e in events)

    def _state(self) -> dict[str, Any]:
        return {"display": "on"}

    async def _decision(self, item: Incoming) -> bool:
        self.decider.answer(parse(item.topic, item.payload, Decision), item.correlation)
        return True

    async def _watch_connection(self) -> None:
        while True:
            await self.link.connected.wait()
            self.connected_at.append(time.time())
            await self.link.disconnected.wait()

    # -- traffic ---------------------------------------------------------------------------
    async def visit(self, visitor: str) -> None:
        """A visit with its events (enter, a dwell, exit) and one decide request."""
        visit_id = new_id()
        fields = _visit(visitor, visit_id, 0)
        del fields["dwell_ms"]
        self._record("visit.enter", fields)
        started = time.perf_counter()
        decision = await self.decider.ask(visitor, visit_id, "beacon", "near")
        if decision is None:
            self.decide_failed += 1
        else:
            self.decide_ms.append((time.perf_counter() - started) * 1000)
        self._record("visit.dwell", fields)
        self._record("visit.exit", _visit(visitor, visit_id, random.randint(5000, 90000)))

    def health(self) -> None:
        """The `device.health` event and the retained state published again, as every minute."""
        self._record(
            "device.health",
            {
                "uptime_s": 60,
                "fps": 30.0,
                "frames": 1800,
                "display": "on",
                "disk_free_bytes": 10**10,
                "disk_free_pct": 50.0,
                "broker_connected": int(self.link.connected.is_set()),
            },
        )
        self.link.publish_state()

    def _record(self, type_: str, fields: dict[str, Any]) -> None:
        event = self.outbox.event(type_, fields)
        self.outbox.writer.add(event)
        self.committed.append(event["id"])

    async def pending(self) -> int:
        assert self._box is not None
        return await self._box.run(Outbox.pending)

    async def stop(self) -> None:
        if self._tasks is not None:
            await self.outbox.writer.flush()
            await self._tasks.stop()
            await self._tasks.__aexit__(None, None, None)
            await asyncio.to_thread(self.link.stop)
        if self._box is not None:
            await self._box.__aexit__(None, None, None)


def _visit(visitor: str, visit_id: str, dwell_ms: int) -> dict[str, Any]:
    return {
        "visitor": visitor,
        "visit_id": visit_id,
        "zone": "near",
        "rssi": -60,
        "dwell_ms": dwell_ms,
    }
