"""A whole replay through the daemon at debug level logs no MAC address and no visitor id.
(How log lines are redacted and prioritised is in tests/unit/test_logs.py.)"""

from __future__ import annotations

import re
from collections.abc import Callable
from pathlib import Path

import pytest

from edge import logs
from edge.sim.central import CentralSim
from tests.support.daemon import DaemonProcess
from tests.support.paths import DEMO_TRACE


@pytest.mark.slow
@pytest.mark.timeout(120)
def test_a_replay_at_debug_level_logs_no_address_and_no_visitor(
    central: CentralSim,
    device_config: Callable[..., Path],
    daemon: Callable[..., DaemonProcess],
) -> None:
    config = device_config(speed=40.0, log={"level": "debug"})  # the 240 s trace in 6 s
    proc = daemon("run", "--config", str(config), "--duration", "9")
    assert proc.wait(60) == 0, proc.stderr
    output = proc.stdout + proc.stderr
    assert "debug" in output  # the level really was debug
    visitors = {str(e["visitor"]) for e in central.events.values() if e.get("visitor")}
    assert visitors, "the replay produced no visitor to look for"
    assert not [v for v in visitors if v in output]
    addresses = set(re.findall(r'"address":"([^"]+)"', DEMO_TRACE.read_text()))
    assert not [a for a in addresses if a in output or a.lower() in output]
    assert not logs.MAC.search(output)
