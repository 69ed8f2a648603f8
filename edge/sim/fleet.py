"""A simulated fleet: N screens (edge/sim/fleet_device.py) split over a few processes.

How they share the machine: each process ("shard") runs one asyncio loop that owns
its share of the devices; every device keeps the daemon's own two threads (its
outbox thread and paho's network thread). A shard holds at most
PER_PROCESS devices: paho's network loop waits with select(), which cannot watch a
file descriptor numbered 1024 or more, and each device holds about six (its socket,
paho's wake-up pair, the outbox's database, WAL and shared-memory files), so in
one process the 171st device or so would never connect (found the hard way: 338
of 1,000 bare links in one process connected, the rest retried forever). 1,000
devices are thus 9 processes, 9 loops and about 2,000 threads. A shard is driven
over a pipe by the controller (`Fleet`): open the outboxes (with a backlog),
connect, traffic on and off, report.

Traffic at the daemon's rates: a visit every 1-3 minutes per screen (enter,
dwell, exit and one decide request), a `device.health` event and the retained
state published again every 60 s; the state's will is set by the link.
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
import multiprocessing
import random
import resource
import signal
from dataclasses import dataclass
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any

from edge.link.session import BrokerSettings
from edge.sim.fleet_device import SimDevice

log = logging.getLogger(__name__)
PER_PROCESS = 120
"""Devices per shard process (paho's select() and the 1,024 file-descriptor line)."""


def shards_for(devices: int) -> int:
    return max(1, -(-devices // PER_PROCESS))


@dataclass(frozen=True, slots=True)
class FleetPlan:
    devices: int
    broker: BrokerSettings
    state_dir: Path
    shards: int = 0
    """Processes; 0: enough for PER_PROCESS devices each."""
    screens_per_store: int = 4
    ack_timeout_s: float = 10.0
    hold_s: float = 0.0
    """The daemon's `[storage] hold_s` (SimDevice says why 0 here)."""
    visit_every_s: tuple[float, float] = (60.0, 180.0)
    health_every_s: float = 60.0
    certs_dir: Path | None = None
    """With TLS: `{device_id}.crt` and `.key` per device (CN = device id)."""

    def __post_init__(self) -> None:
        if self.shards <= 0:
            object.__setattr__(self, "shards", shards_for(self.devices))

    def identities(self) -> list[tuple[str, str]]:
        """(store_id, device_id) of every device, as the ACL inventory lists them."""
        return [
            (f"store-{n // self.screens_per_store:04d}", f"screen-{n:05d}")
            for n in range(self.devices)
        ]

    def device_broker(self, device_id: str) -> BrokerSettings:
        if self.certs_dir is None:
            if self.broker.tls_ca:
                return self.broker
            return dataclasses.replace(self.broker, username=device_id)  # the ACL's user
        return dataclasses.replace(
            self.broker,
            tls_cert=str(self.certs_dir / f"{device_id}.crt"),
            tls_key=str(self.certs_dir / f"{device_id}.key"),
        )


class Shard:
    """One process's devices, on its asyncio loop."""

    def __init__(self, plan: FleetPlan, index: int) -> None:
        self.plan = plan
        self.identities = plan.identities()[index :: plan.shards]
        self.devices: dict[str, SimDevice] = {}
        self.committed: list[str] = []  # ids of devices already replaced
        self.decide_ms: list[float] = []
        self.decide_failed = 0
        self._traffic: list[asyncio.Task[None]] = []

    def _new(self, store_id: str, device_id: str) -> SimDevice:
        return SimDevice(
            store_id,
            device_id,
            self.plan.device_broker(device_id),
            self.plan.state_dir,
            ack_timeout_s=self.plan.ack_timeout_s,
            hold_s=self.plan.hold_s,
        )

    async def open(self, backlog: int) -> int:
        """(Re)open every device's outbox with `backlog` more events; not connected yet."""
        await self.stop_devices()
        self.devices = {d: self._new(s, d) for s, d in self.identities}
        for chunk in _chunks(list(self.devices.values()), 25):
            await asyncio.gather(*(d.open(backlog) for d in chunk))
        return len(self.devices)

    async def connect(self) -> int:
        for device in self.devices.values():
            await device.connect()
        return len(self.devices)

    async def traffic(self, on: bool) -> dict[str, Any]:
        for task in self._traffic:
            task.cancel()
        await asyncio.gather(*self._traffic, return_exceptions=True)
        self._traffic = []
        if on:
            self._traffic = [asyncio.create_task(self._screen(d)) for d in self.devices.values()]
        figures = {"decide_ms": self.decide_ms, "decide_failed": self.decide_failed}
        self.decide_ms, self.decide_failed = [], 0
        return figures

    async def _screen(self, device: SimDevice) -> None:
        low, high = self.plan.visit_every_s
        next_visit = random.uniform(0, high)  # a fleet does not start in step
        next_health = random.uniform(0, self.plan.health_every_s)
        clock = 0.0
        while True:
            wait = min(next_visit, next_health) - clock
            await asyncio.sleep(max(0.0, wait))
            clock += max(0.0, wait)
            if clock >= next_health:
                device.health()
                next_health += self.plan.health_every_s
            if clock >= next_visit:
                before = len(device.decide_ms), device.decide_failed
                await device.visit(f"member-{random.randrange(10_000)}")
                self.decide_ms.extend(device.decide_ms[before[0] :])
                self.decide_failed += device.decide_failed - before[1]
                next_visit = clock + random.uniform(low, high)

    async def status(self) -> dict[str, Any]:
        devices = list(self.devices.values())
        pending = await asyncio.gather(*(d.pending() for d in devices))
        return {
            "connected": sum(d.link.connected.is_set() for d in devices if hasattr(d, "link")),
            "pending": sum(pending),
            "last_connect": [d.connected_at[-1] if d.connected_at else 0.0 for d in devices],
        }

    def all_committed(self) -> list[str]:
        return self.committed + [i for d in self.devices.values() for i in d.committed]

    async def stop_devices(self) -> None:
        await self.traffic(False)
        for chunk in _chunks(list(self.devices.values()), 50):
            await asyncio.gather(*(d.stop() for d in chunk), return_exceptions=True)
        self.committed += [i for d in self.devices.values() for i in d.committed]
        self.devices = {}


def _chunks(items: list[SimDevice], size: int) -> list[list[SimDevice]]:
    return [items[i : i + size] for i in range(0, len(items), size)]


def _raise_file_limit() -> None:
    """A device holds a socket and three SQLite files: a shard needs more than 1,024."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    want = hard if hard != resource.RLIM_INFINITY else 65536
    if soft < want:
        resource.setrlimit(resource.RLIMIT_NOFILE, (want, hard))


def shard_main(plan: FleetPlan, index: int, pipe: Connection) -> None:
    """A shard process: obey the controller's commands until `stop` (or until the
    controller is gone)."""
    logging.basicConfig(level=logging.ERROR)
    _raise_file_limit()
    # Ctrl-C and a service manager's SIGTERM reach the whole process group: the controller
    # takes them and stops the shards itself, after asking them for the last figures.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_IGN)

    async def serve() -> None:
        shard = Shard(plan, index)
        while True:
            try:
                command, arg = await asyncio.to_thread(pipe.recv)
            except EOFError:  # the controller died: nobody to report to
                await shard.stop_devices()
                return
            if command == "open":
                pipe.send(await shard.open(int(arg)))
            elif command == "connect":
                pipe.send(await shard.connect())
            elif command == "traffic":
                pipe.send(await shard.traffic(bool(arg)))
            elif command == "status":
                pipe.send(await shard.status())
            elif command == "committed":
                pipe.send(shard.all_committed())
            elif command == "stop":
                await shard.stop_devices()
                pipe.send(True)
                return

    asyncio.run(serve())


class Fleet:
    """The controller: `with Fleet(plan) as fleet: fleet.open(500); fleet.connect(); ...`."""

    def __init__(self, plan: FleetPlan) -> None:
        self.plan = plan
        plan.state_dir.mkdir(parents=True, exist_ok=True)
        _raise_file_limit()
        context = multiprocessing.get_context("spawn")
        self._pipes: list[Connection] = []
        self._procs = []
        for index in range(plan.shards):
            mine, theirs = context.Pipe()
            proc = context.Process(
                target=shard_main, args=(plan, index, theirs), name=f"fleet-shard-{index}"
            )
            proc.start()
            self._pipes.append(mine)
            self._procs.append(proc)

    def _all(self, command: str, arg: Any = None, timeout_s: float = 600) -> list[Any]:
        for pipe in self._pipes:
            pipe.send((command, arg))
        results = []
        for pipe, proc in zip(self._pipes, self._procs, strict=True):
            if not pipe.poll(timeout_s):
                raise TimeoutError(f"{proc.name} did not answer {command!r} in {timeout_s} s")
            results.append(pipe.recv())
        return results

    def open(self, backlog: int = 0) -> int:
        return sum(self._all("open", backlog))

    def connect(self) -> int:
        return sum(self._all("connect"))

    def traffic(self, on: bool) -> dict[str, Any]:
        parts = self._all("traffic", on)
        return {
            "decide_ms": [ms for p in parts for ms in p["decide_ms"]],
            "decide_failed": sum(p["decide_failed"] for p in parts),
        }

    def status(self) -> dict[str, Any]:
        parts = self._all("status", timeout_s=120)
        return {
            "connected": sum(p["connected"] for p in parts),
            "pending": sum(p["pending"] for p in parts),
            "last_connect": [t for p in parts for t in p["last_connect"]],
        }

    def committed(self) -> list[str]:
        return [i for part in self._all("committed") for i in part]

    def close(self) -> None:
        try:
            self._all("stop", timeout_s=120)
        except (OSError, EOFError, TimeoutError) as exc:
            log.warning("fleet shards did not stop cleanly: %s", exc)
        for proc in self._procs:
            proc.join(30)
            if proc.is_alive():
                proc.kill()
                proc.join(5)

    def __enter__(self) -> Fleet:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
