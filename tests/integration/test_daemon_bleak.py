"""The daemon on the real bleak scanner, against a fake BlueZ: a beacon held close becomes a
visit at central, and the visit ends when the beacon goes quiet."""

from __future__ import annotations

import os
import shutil
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from edge.sim.central import CentralSim
from tests.support.daemon import DaemonProcess
from tests.support.fake_bluez import fake_bluez

pytestmark = [
    pytest.mark.skipif(shutil.which("dbus-daemon") is None, reason="dbus-daemon not installed"),
    pytest.mark.timeout(90),
]

IBEACON = bytes.fromhex("0215f7826da64fa24e988024bc5b71e0893e00010002c5")
VISITOR = "ibeacon:f7826da6-4fa2-4e98-8024-bc5b71e0893e:1:2"
MAC = "C4:7C:8D:6A:11:02"


def wait_until(
    check: Callable[[], bool], seconds: float, what: str, log: Callable[[], str] = str
) -> None:
    deadline = time.monotonic() + seconds
    while not check():
        assert time.monotonic() < deadline, f"timed out waiting for {what}\n{log()}"
        time.sleep(0.05)


def test_beacon_near_the_screen_becomes_a_visit_that_ends_when_it_leaves(
    tmp_path: Path,
    central: CentralSim,
    device_config: Callable[..., Path],
    daemon: Callable[..., DaemonProcess],
) -> None:
    with fake_bluez(tmp_path / "bluez") as fb:
        config = device_config(
            presence={"source": "bleak", "adapter": "hci0", "absence_timeout_s": 2.0},
            sync={"ack_timeout_s": 0.5},
            storage={"group_ms": 10},
        )
        os.environ["DBUS_SYSTEM_BUS_ADDRESS"] = fb.address  # restored by fake_bluez
        proc = daemon("run", "--config", str(config), "--duration", "25")
        wait_until(lambda: "StartDiscovery" in fb.calls("/org/bluez/hci0"), 20, "discovery")
        path = fb.add_device(MAC, "tag")
        # Held at the screen for 8 s, ten adverts a second: a stop the model counts as a
        # visit every time (a 4 s stop is a coin toss between a visit and a passer-by).
        deadline = time.monotonic() + 8.0
        while time.monotonic() < deadline:
            fb.advertise(path, rssi=-55, manufacturer_data={0x004C: IBEACON})
            time.sleep(0.1)
        wait_until(
            lambda: bool(central.events_of("visit.exit")),
            15,
            "the visit's exit",
            lambda: proc.stdout + proc.stderr,
        )
        proc.stop()
    enters = [e for e in central.events_of("visit.enter") if e["visitor"] == VISITOR]
    exits = [e for e in central.events_of("visit.exit") if e["visitor"] == VISITOR]
    assert len(enters) == 1 and len(exits) == 1, (enters, exits)
    assert enters[0]["visit_id"] == exits[0]["visit_id"]
    assert enters[0]["zone"] in ("near", "immediate")
    assert 6000 <= exits[0]["dwell_ms"] <= 9000
    flat = (proc.stdout + proc.stderr).lower().replace(":", "")
    assert MAC.replace(":", "").lower() not in flat, "the MAC address was logged"
    for event in central.events.values():
        assert MAC.replace(":", "").lower() not in str(event).lower().replace(":", "")
