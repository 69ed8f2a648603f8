"""The panel on the I/O side: follows the store hours and the override, records what it
does, and watches the connectors for a display that goes missing.

Every `[panel] check_s` it reads the override file (when it changed) and the DRM
connectors (off the loop), and asks the pure schedule whether the panel is wanted.
A change is handed to the render thread through the bridge (`set_panel`), recorded
as `display.power` and published in `P/state`.

A disconnected display is reported once (`display.disconnected`, an error line,
`display: disconnected` in `P/state` and health) and its return once
(`display.connected`). Never while the panel is off: TVs in standby often drop
hot-plug detect; and not in the first `hotplug_grace_s` after waking it.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from edge.config import Config
from edge.link.schemas.device import PanelState
from edge.panel import override
from edge.panel.connector import Connection, connected_names, connection, read_connectors
from edge.panel.schedule import Override, Plan, Schedule, plan
from edge.runtime.service import Figures, Service
from edge.runtime.supervisor import Task

if TYPE_CHECKING:
    from edge.app.bridge import RenderBridge

log = logging.getLogger(__name__)


class PanelService(Service):
    name = "panel"

    def __init__(
        self,
        config: Config,
        bridge: RenderBridge,
        *,
        record: Callable[[str, dict[str, Any]], None],
        on_state: Callable[[], None] = lambda: None,
        now_ms: Callable[[], int] = lambda: int(time.time() * 1000),
    ) -> None:
        """Reads the override file once here (before the threads start), so a device
        restarted at night does not light the panel first."""
        p = config.panel
        self._config = p
        self._bridge = bridge
        self._record = record
        self._on_state = on_state
        self._now_ms = now_ms
        self._state_dir = config.state_dir
        self._schedule = Schedule.from_config(p.hours, p.exceptions, p.timezone)
        self._stamp = override.stamp(self._state_dir)
        self._override: Override | None = override.read(self._state_dir)
        self.plan: Plan = plan(self._schedule, self._override, now_ms())
        bridge.set_panel(self.plan.power == "on")
        self._woke = time.monotonic()
        self.connector: Connection = "unknown"
        self._names: list[str] = []
        self.missing = False  # display.disconnected sent, display.connected not yet

    def tasks(self) -> list[Task]:
        return [Task("panel", self._watch)]

    def set_config(self, config: Config) -> None:
        """New store hours (a remote config overlay, edge/config/remote.py): followed from
        the next check. How the panel is switched stays the local file's."""
        p = config.panel
        self._schedule = Schedule.from_config(p.hours, p.exceptions, p.timezone)

    async def _watch(self) -> None:
        while True:
            await self.check()
            await asyncio.sleep(self._config.check_s)

    async def check(self) -> None:
        """One look at the override, the schedule and the connectors."""
        stamp = await asyncio.to_thread(override.stamp, self._state_dir)
        if stamp != self._stamp:
            self._stamp = stamp
            self._override = await asyncio.to_thread(override.read, self._state_dir)
        self._follow(plan(self._schedule, self._override, self._now_ms()))
        root = Path(self._config.sysfs_root)
        statuses = await asyncio.to_thread(read_connectors, root)
        unplugged = [name for name, status in statuses.items() if status == "disconnected"]
        self._judge(connection(statuses), connected_names(statuses) or unplugged)

    def _follow(self, new: Plan) -> None:
        old, self.plan = self.plan, new
        if new == old:
            return
        if new.power != old.power:
            self._bridge.set_panel(new.power == "on")
            if new.power == "on":
                self._woke = time.monotonic()
            log.info(
                "panel %s by %s%s (%s)",
                new.power,
                new.by,
                f" until {_iso(new.until_ms)}" if new.until_ms else "",
                self._bridge.panel_method,
            )
            self._record(
                "display.power",
                {
                    "power": new.power,
                    "by": new.by,
                    "method": self._bridge.panel_method,
                    "until_ts": new.until_ms,
                },
            )
        self._on_state()

    def _judge(self, now: Connection, names: list[str]) -> None:
        changed = now != self.connector
        self.connector, self._names = now, names
        if self.plan.power == "off":
            return  # a TV in standby may drop hot-plug detect: nothing to say
        if now == "disconnected" and not self.missing:
            if time.monotonic() - self._woke < self._config.hotplug_grace_s:
                return  # a TV just woken takes a moment to assert hot-plug again
            self.missing = True
            log.error("no display connected (%s): check the HDMI cable", ", ".join(names))
            self._record("display.disconnected", {"connectors": names})
            self._on_state()
        elif now == "connected" and self.missing:
            self.missing = False
            log.info("display connected again (%s)", ", ".join(names))
            self._record("display.connected", {"connectors": names})
            self._on_state()
        elif changed:
            self._on_state()

    async def set_override(self, power: str, until_ms: int | None) -> str:
        """The `display` command: `on`/`off` until `until_ms` (None: until `auto`), `auto`
        back to the schedule. Written to the same file `omo-edge display` writes."""
        wanted = None if power == "auto" else Override("on" if power == "on" else "off", until_ms)
        if wanted is not None and until_ms is not None and until_ms <= self._now_ms():
            return f"nothing to do: {_iso(until_ms)} has passed"
        await asyncio.to_thread(override.write, self._state_dir, wanted)
        await self.check()
        p = self.plan
        until = f" until {_iso(p.until_ms)}" if p.until_ms else ""
        return f"panel {p.power} by {p.by}{until} ({self._bridge.panel_method})"

    def display(self, rendered: str) -> str:
        """The `display` field of `P/state` and health: the render state, or
        `disconnected` while a missing display is reported."""
        return "disconnected" if self.missing and self.plan.power == "on" else rendered

    def state(self) -> PanelState:
        p = self.plan
        return PanelState(
            power=p.power,
            by=p.by,
            until_ts=p.until_ms,
            method=self._bridge.panel_method,
            connector=self.connector,
        )

    def health(self) -> Figures:
        return {
            "display": self.display(self._bridge.display),
            "panel_power": self.plan.power,
            "panel_method": self._bridge.panel_method,
            "display_connector": self.connector,
        }


def _iso(ms: int | None) -> str:
    if ms is None:
        return "-"
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(ms / 1000))
