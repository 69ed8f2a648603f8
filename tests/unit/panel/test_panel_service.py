"""The panel service through a store's weekend across the spring DST change: the panel is
switched at the right local times, each switch recorded once, a cable pulled at night is
not reported, the same cable out in the morning is reported once."""

from __future__ import annotations

import asyncio
import datetime as dt
from pathlib import Path
from typing import Any

from edge import config as config_mod
from edge.app.bridge import RenderBridge
from edge.panel.service import PanelService
from tests.support.config import write_config
from tests.support.panel import FakeDrm

WEEK = {day: "09:00-21:00" for day in ("mon", "tue", "wed", "thu", "fri", "sat", "sun")}


def ms(iso: str) -> int:
    return int(dt.datetime.fromisoformat(iso).timestamp() * 1000)


def test_a_weekend_across_the_dst_change(tmp_path: Path) -> None:
    drm = FakeDrm(tmp_path / "sys")
    cfg = config_mod.load(
        write_config(
            tmp_path / "edge.toml",
            {
                "storage": {"path": str(tmp_path / "state" / "outbox.sqlite3")},
                "panel": {
                    "timezone": "Europe/Berlin",
                    "hours": WEEK,
                    "sysfs_root": str(drm.root),
                    "hotplug_grace_s": 0,
                },
            },
        )
    )
    (tmp_path / "state").mkdir()
    now = [ms("2026-03-28T07:59:00+00:00")]  # Saturday 08:59 CET: closed
    recorded: list[tuple[str, dict[str, Any]]] = []
    bridge = RenderBridge(on_impression=lambda _i: None)
    bridge.panel_method = "cec"
    service = PanelService(
        cfg, bridge, record=lambda t, f: recorded.append((t, f)), now_ms=lambda: now[0]
    )
    assert not bridge.panel_wanted  # starts dark: a restart at night does not light it

    def at(iso: str) -> tuple[bool, list[tuple[str, dict[str, Any]]]]:
        now[0] = ms(iso)
        recorded.clear()
        asyncio.run(service.check())
        return bridge.panel_wanted, list(recorded)

    on = [("display.power", {"power": "on", "by": "schedule", "method": "cec", "until_ts": None})]
    off = [("display.power", {"power": "off", "by": "schedule", "method": "cec", "until_ts": None})]
    assert at("2026-03-28T08:00:00+00:00") == (True, on)  # 09:00 CET
    assert at("2026-03-28T12:00:00+00:00") == (True, [])
    assert at("2026-03-28T20:00:00+00:00") == (False, off)  # 21:00 CET
    drm.plug(False)  # at night, the TV in standby drops hot-plug (or a cable falls out)
    assert at("2026-03-29T02:30:00+00:00") == (False, [])  # 04:30 CEST: said nothing
    assert at("2026-03-29T06:59:00+00:00") == (False, [])  # 08:59 CEST
    woke, events = at("2026-03-29T07:00:00+00:00")  # 09:00 CEST, one hour earlier in UTC
    assert woke and events == [
        *on,
        ("display.disconnected", {"connectors": ["card0-HDMI-A-1"]}),
    ]
    assert service.display("on") == "disconnected"
    assert at("2026-03-29T08:00:00+00:00") == (True, [])  # reported once
    drm.plug(True)
    assert at("2026-03-29T08:01:00+00:00") == (
        True,
        [("display.connected", {"connectors": ["card0-HDMI-A-1"]})],
    )
    assert at("2026-03-29T19:00:00+00:00") == (False, off)  # 21:00 CEST
