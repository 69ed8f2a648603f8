"""The device looking after itself: `device.health` events, systemd's READY and watchdog,
and `running.json` for the update unit.

Health gathers every service's figures (counters that matter to ops: drops,
rejections, restarts, timeouts) with the machine's own; nothing is counted
that does not reach central.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable, Iterable, Mapping
from typing import Any

from edge import __version__
from edge.app.bridge import RenderBridge
from edge.config import Config
from edge.health import FrameRate, system_fields
from edge.link.schemas.device import HealthSummary
from edge.notify import Notifier, render_alive
from edge.runtime.service import Figures, Service
from edge.runtime.supervisor import Task
from edge.update import running

log = logging.getLogger(__name__)


class HealthService(Service):
    name = "health"

    def __init__(
        self,
        config: Config,
        bridge: RenderBridge,
        *,
        services: Callable[[], Iterable[Service]],
        extra: Callable[[], Mapping[str, int | float | str]],
        before: Callable[[], Any] | None = None,
        record: Callable[[str, dict[str, Any]], None],
        on_summary: Callable[[], None] = lambda: None,
    ) -> None:
        """`services`: whose figures go in; `extra`: the root's own (link, router, tasks);
        `before`: awaited first, to refresh figures that need I/O (the outbox's);
        `on_summary`: a new `summary` for `P/state` is ready."""
        self._config = config
        self._bridge = bridge
        self._services = services
        self._extra = extra
        self._before = before
        self._record = record
        self._on_summary = on_summary
        self.summary: HealthSummary | None = None
        self._started = time.monotonic()
        self._rate = FrameRate(0, self._started)
        self._retimed = asyncio.Event()

    def tasks(self) -> list[Task]:
        return [
            Task("systemd", self._systemd),
            Task("running", self._running),
            Task("health", self._health),
        ]

    def set_config(self, config: Config) -> None:
        """A new `[health] interval_s` (remote config) takes effect at once."""
        self._config = config
        self._retimed.set()

    async def figures(self) -> dict[str, Any]:
        """One `device.health` event's fields."""
        if self._before is not None:
            await self._before()
        frames = self._bridge.frames
        fields: dict[str, Any] = {
            "uptime_s": round(time.monotonic() - self._started),
            "fps": self._rate.update(frames, time.monotonic()),
            **await asyncio.to_thread(system_fields, self._config.state_dir),
            "frames": frames,
            "display": self._bridge.display,
        }
        for service in self._services():
            fields.update(service.health())
        fields.update(self._extra())
        return fields

    async def _health(self) -> None:
        """A `device.health` event every `[health] interval_s` (0: none)."""
        while True:
            self._retimed.clear()
            interval = self._config.health.interval_s
            try:  # a new interval restarts the wait
                await asyncio.wait_for(self._retimed.wait(), interval or None)
                continue
            except TimeoutError:
                pass
            fields = grouped(await self.figures())
            self._record("device.health", fields)
            self.summary = HealthSummary(
                ts=int(time.time() * 1000), outbox_pending=int(fields.get("outbox_pending", 0))
            )
            self._on_summary()

    async def _systemd(self) -> None:
        """READY once a frame is on screen (or the daemon runs on without a display);
        WATCHDOG only while frames keep coming and this loop runs. Disk, broker or radio
        trouble never stops the pings: a restart would not fix them, and a restart loop
        would black out the screen."""
        notifier = Notifier()
        if not notifier.enabled:
            return
        while not self._bridge.running():
            await asyncio.sleep(0.05)
        status = (
            "content on screen"
            if self._bridge.on_screen()
            else "panel in standby"
            if self._bridge.display == "off"
            else "running without a display"
        )
        notifier.send("READY=1", f"STATUS={status}")
        log.info("told systemd we are ready (%s)", status)
        if notifier.watchdog_s is None:
            return
        stall_s = self._config.display.stall_s
        stalled = False
        while True:
            await asyncio.sleep(notifier.watchdog_s / 3)
            alive = render_alive(time.monotonic(), self._bridge.last_frame(), stall_s)
            if alive:
                notifier.send("WATCHDOG=1")
            elif not stalled:
                log.error("no frame for %.0f s: not confirming liveness to the watchdog", stall_s)
            stalled = not alive

    async def _running(self) -> None:
        """running.json once content is on screen: the update unit's sign of health."""
        await running.announce(
            self._config.state_dir,
            __version__,
            self._bridge.running,
        )

    def health(self) -> Figures:
        return {}


GROUPS = {
    "decode_": "decode",
    "scanner_": "scanner",
    "dropped_": "dropped",
    "handler_errors_": "handler_errors_by_route",
    "task_restarts_": "task_restarts_by_task",
    "personalize_": "personalize",
    "checkin_": "checkin",
    "lan_": "lan",
}
"""Prefixed counters a service reports, and the map of `device.health` they go in."""
FLAT = {"scanner_state", "dropped_total"}


def grouped(figures: Mapping[str, Any]) -> dict[str, Any]:
    """Services' flat figures in the shape of the `device.health` event: `decode_crc` goes
    into `decode: {crc: ..}`, and so on (edge/link/schemas/events.py, DeviceHealth)."""
    out: dict[str, Any] = {}
    for name, value in figures.items():
        prefix = next((p for p in GROUPS if name.startswith(p) and name not in FLAT), None)
        if prefix is None:
            out[name] = value
        else:
            out.setdefault(GROUPS[prefix], {})[name.removeprefix(prefix)] = value
    return out
