"""A full disk is a health problem, not a reason to stop: the screen keeps playing, events
wait in memory, and they reach central once space returns."""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from edge.sim.central import CentralSim
from tests.support.central import received
from tests.support.device import captured_log, running_device
from tests.support.disk import fill
from tests.support.wait import wait_for

pytestmark = [pytest.mark.slow, pytest.mark.timeout(120)]


def test_disk_full_keeps_the_screen_playing_and_loses_no_event(
    tmp_path: Path,
    small_disk: Path,
    central: CentralSim,
    device_config: Callable[..., Path],
) -> None:
    central.show_ms = 1000  # coupons come and go: new slides, new screenshots
    config = device_config(
        speed=20.0,
        storage={"path": str(small_disk / "outbox.sqlite3")},
        sync={"ack_timeout_s": 0.5},
        health={"interval_s": 10},
    )
    shots = tmp_path / "shots"
    with captured_log() as log, running_device(config) as device:
        assert wait_for(lambda: bool(central.events), 20), "nothing synced before the disk filled"
        filler = fill(small_disk)
        full_since = time.time() * 1000
        assert wait_for(lambda: "outbox cannot write" in log.text, 20), log.text
        # Full until the device has made events it cannot store and drawn new slides.
        made = log.text.count("visitor ")
        assert wait_for(lambda: log.text.count("visitor ") > made, 20), "no visit while full"

        def drawn_while_full() -> list[Path]:
            return [p for p in shots.glob("*.png") if p.stat().st_mtime * 1000 > full_since]

        assert wait_for(lambda: bool(drawn_while_full()), 20), "nothing drawn while full"
        assert not device.stop.is_set(), "the daemon stopped when the disk filled up"
        filler.unlink()
        full_until = time.time() * 1000

        def made_while_full() -> list[dict[str, Any]]:
            return [e for e in received(central) if full_since <= e["ts"] <= full_until]

        assert wait_for(lambda: "outbox writes again" in log.text, 30), log.text
        assert wait_for(lambda: bool(made_while_full()), 30), (
            "events made while the disk was full never reached central"
        )
