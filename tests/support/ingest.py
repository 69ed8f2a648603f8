"""Simulated screens (edge/sim/fleet_device.py) on an asyncio loop of their own, for the
ingest tests: start them, ask them things from the test's thread, stop them."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Coroutine, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, TypeVar

from edge.link.session import BrokerSettings
from edge.ops.ingest.database import Database
from edge.sim.fleet_device import SimDevice

T = TypeVar("T")


class DeviceLoop:
    """A thread running one asyncio loop that owns the simulated devices."""

    def __init__(self) -> None:
        self.loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self.loop.run_forever, daemon=True)
        self._thread.start()
        self.devices: list[SimDevice] = []

    def call(self, coro: Coroutine[Any, Any, T], timeout_s: float = 30.0) -> T:
        return asyncio.run_coroutine_threadsafe(coro, self.loop).result(timeout_s)

    def start(
        self, count: int, port: int, state_dir: Path, *, backlog: int = 0, stores: int = 5,
        ack_timeout_s: float = 1.0,
    ) -> list[SimDevice]:  # fmt: skip
        broker = BrokerSettings("127.0.0.1", port, reconnect_base_s=0.2, reconnect_cap_s=2.0)
        made = [
            SimDevice(
                f"store-{n % stores}",
                f"screen-{n:03d}",
                broker,
                state_dir,
                ack_timeout_s=ack_timeout_s,
            )
            for n in range(len(self.devices), len(self.devices) + count)
        ]

        async def start_all() -> None:
            await asyncio.gather(*(d.start(backlog) for d in made))

        self.call(start_all())
        self.devices.extend(made)
        return made

    def start_one(
        self, store_id: str, device_id: str, broker: BrokerSettings, state_dir: Path,
        *, backlog: int = 0,
    ) -> SimDevice:  # fmt: skip
        device = SimDevice(store_id, device_id, broker, state_dir, ack_timeout_s=1.0)
        self.call(device.start(backlog))
        self.devices.append(device)
        return device

    def pending(self) -> int:
        async def total() -> int:
            return sum(await asyncio.gather(*(d.pending() for d in self.devices)))

        return self.call(total())

    def committed(self) -> set[str]:
        return {event_id for d in self.devices for event_id in d.committed}

    def close(self) -> None:
        async def stop_all() -> None:
            await asyncio.gather(*(d.stop() for d in self.devices), return_exceptions=True)

        try:
            self.call(stop_all(), 60)
        finally:
            self.loop.call_soon_threadsafe(self.loop.stop)
            self._thread.join(10)
            self.loop.close()


@contextmanager
def device_loop() -> Iterator[DeviceLoop]:
    devices = DeviceLoop()
    try:
        yield devices
    finally:
        devices.close()


def stored_ids(url: str) -> list[str]:
    """Every event id in the ingest database, duplicates kept (there must be none)."""
    db = Database.open(url)
    try:
        return [str(row[0]) for row in db.query("SELECT id FROM events")]
    finally:
        db.close()
