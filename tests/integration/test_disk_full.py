"""A full disk is a health problem, not a reason to stop: the screen keeps playing, events
wait in memory, and they reach central once space returns."""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path

import pytest

from edge.sim.central import CentralSim
from tests.support.daemon import DaemonProcess
from tests.support.disk import fill

pytestmark = [pytest.mark.slow, pytest.mark.timeout(120)]


def test_disk_full_keeps_the_screen_playing_and_loses_no_event(
    tmp_path: Path,
    small_disk: Path,
    central: CentralSim,
    device_config: Callable[..., Path],
    daemon: Callable[..., DaemonProcess],
) -> None:
    config = device_config(
        speed=20.0,
        storage={"path": str(small_disk / "outbox.sqlite3")},
        sync={"ack_timeout_s": 0.5},
        health={"interval_s": 10},
    )
    proc = daemon("run", "--config", str(config), "--duration", "22")
    time.sleep(3.0)
    filler = fill(small_disk)
    full_since = time.time() * 1000
    time.sleep(7.0)
    assert proc.proc.poll() is None, "the daemon stopped when the disk filled up"
    shots_while_full = [
        p for p in (tmp_path / "shots").glob("*.png") if p.stat().st_mtime * 1000 > full_since
    ]
    filler.unlink()
    full_until = time.time() * 1000
    assert proc.wait(60) == 0, proc.stderr
    assert "outbox cannot write" in proc.stdout
    assert "outbox writes again" in proc.stdout
    assert shots_while_full, "nothing was drawn while the disk was full"
    made_while_full = [e for e in central.events.values() if full_since <= e["ts"] <= full_until]
    assert made_while_full, "events made while the disk was full never reached central"
