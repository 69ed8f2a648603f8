"""The panel in a store's day, on the whole device in this process (real Mosquitto, SDL's
dummy driver, a fake `cec-ctl`, a fake DRM sysfs tree, a stand-in NOTIFY_SOCKET).

Closed today: the panel is put in standby by CEC, the render loop idles yet systemd's
watchdog keeps being fed and running.json is written; presence keeps counting; no
decide request, no impression. A cable pulled at night says nothing; an override turns
the panel on and the missing display is reported once, its return once. An override
with an end gives way to the schedule when it ends."""

from __future__ import annotations

import datetime as dt
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from edge.sim.central import CentralSim
from edge.update import running
from tests.integration.test_systemd import NotifyListener
from tests.support.device import running_device
from tests.support.panel import FakeCec, FakeDrm
from tests.support.wait import wait_for

pytestmark = [pytest.mark.timeout(90), pytest.mark.xdist_group("notify-env")]

DEVICE = "omo/v1/store-1/screen-1"


def closed_around_now() -> dict[str, str]:
    today = dt.datetime.now(dt.UTC).date()
    return {str(today + dt.timedelta(days=d)): "closed" for d in (-1, 0, 1)}


@pytest.fixture
def notify(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[NotifyListener]:
    listener = NotifyListener(tmp_path / "notify.sock")
    for key, value in listener.env().items():
        monkeypatch.setenv(key, value)
    try:
        yield listener
    finally:
        listener.close()


def events_of(central: CentralSim, type_: str) -> list[dict[str, Any]]:
    return sorted(
        (e for e in list(central.events.values()) if e["type"] == type_), key=lambda e: e["ts"]
    )


def panel_tables(tmp_path: Path, cec: FakeCec, drm: FakeDrm, **keys: Any) -> dict[str, Any]:
    return {
        "timezone": "UTC",
        "method": "cec",
        "cec_ctl": str(cec.program),
        "cec_device": str(cec.device),
        "sysfs_root": str(drm.root),
        "check_s": 0.05,
        "hotplug_grace_s": 0,
        **keys,
    }


def test_a_closed_store_night_with_a_pulled_cable(
    tmp_path: Path,
    central: CentralSim,
    device_config: Callable[..., Path],
    notify: NotifyListener,
) -> None:
    cec, drm = FakeCec(tmp_path / "cec"), FakeDrm(tmp_path / "sys")
    config = device_config(
        speed=20.0,
        panel=panel_tables(tmp_path, cec, drm, exceptions=closed_around_now()),
        display={"stall_s": 1.5, "headless": True, "width": 320, "height": 180},
        health={"interval_s": 1},
    )
    with running_device(config) as device:
        state_dir = device.config.state_dir
        assert wait_for(lambda: any("READY=1" in m for _t, m in notify.received), 20)
        assert wait_for(lambda: cec.sent("--standby") == 1, 10), cec.calls()
        assert device.bridge.display == "off"
        # the watchdog keeps being fed while the loop idles, and the update check sees health
        since = time.monotonic()
        assert wait_for(lambda: notify.pings(after=since) >= 8, 10), notify.received
        assert running.read(state_dir) is not None
        # presence counts; nobody is asked what to show; nothing is shown
        assert wait_for(lambda: len(events_of(central, "visit.enter")) >= 2, 30)
        assert central.decisions == 0
        assert device.bridge.frames == 0
        assert events_of(central, "impression") == []
        assert wait_for(lambda: central.states[DEVICE].get("display") == "off", 10)
        assert central.states[DEVICE]["panel"]["power"] == "off"
        health = events_of(central, "device.health")
        assert wait_for(lambda: bool(events_of(central, "device.health")), 10)
        health = events_of(central, "device.health")[-1]
        assert (health["display"], health["panel_power"], health["panel_method"]) == (
            "off",
            "off",
            "cec",
        )

        # the cable falls out at night: a TV in standby drops hot-plug too; nothing is said
        drm.plug(False)
        assert wait_for(lambda: device.io.panel.connector == "disconnected", 10)
        assert not device.io.panel.missing

        # staff turn it on for a while: the display is missing, said once
        cmd = central.command(DEVICE, "display", {"power": "on"})
        assert wait_for(lambda: cmd in central.cmd_results, 10)
        assert central.cmd_results[cmd]["ok"], central.cmd_results[cmd]
        assert wait_for(lambda: cec.sent("--image-view-on") == 1, 10), cec.calls()
        assert wait_for(lambda: len(events_of(central, "display.disconnected")) == 1, 15)
        assert wait_for(lambda: central.states[DEVICE].get("display") == "disconnected", 10)
        drm.plug(True)
        assert wait_for(lambda: len(events_of(central, "display.connected")) == 1, 15)
        assert wait_for(lambda: device.bridge.frames > 0, 10)  # playing again
        assert len(events_of(central, "display.disconnected")) == 1
    powers = [(e["power"], e["by"], e["method"]) for e in events_of(central, "display.power")]
    assert powers == [("on", "override", "cec")]  # the start in standby was no change


def test_an_override_with_an_end_gives_way_to_the_schedule(
    tmp_path: Path, central: CentralSim, device_config: Callable[..., Path]
) -> None:
    cec, drm = FakeCec(tmp_path / "cec"), FakeDrm(tmp_path / "sys")
    config = device_config(
        speed=0.001,
        panel=panel_tables(tmp_path, cec, drm),  # no hours: always on
        display={"headless": True, "width": 320, "height": 180},
    )
    with running_device(config) as device:
        assert wait_for(lambda: device.bridge.frames > 0, 20)
        until = int(time.time() * 1000) + 2_000
        cmd = central.command(DEVICE, "display", {"power": "off", "until": until})
        assert wait_for(lambda: cmd in central.cmd_results, 10)
        assert central.cmd_results[cmd]["detail"].startswith("panel off by override until")
        assert wait_for(lambda: device.bridge.display == "off", 10)
        frames_off = device.bridge.frames
        assert wait_for(lambda: cec.sent("--standby") == 1, 10)
        assert wait_for(lambda: device.bridge.display == "on", 15)  # the override ended
        assert time.time() * 1000 >= until
        assert wait_for(lambda: device.bridge.frames > frames_off, 10)
        assert wait_for(lambda: len(events_of(central, "display.power")) == 2, 10)
    off, on = events_of(central, "display.power")
    assert (off["power"], off["by"], off["until_ts"]) == ("off", "override", until)
    assert (on["power"], on["by"]) == ("on", "schedule")
    for shown in events_of(central, "impression"):  # nothing was shown while it was off
        assert not off["ts"] + 500 < shown["ts"] < on["ts"]
