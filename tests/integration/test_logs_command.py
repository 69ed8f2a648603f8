"""`P/cmd` `logs` on a running device (real Mosquitto): the daemon's recent lines come back
redacted as its logs are, split across several results when large, each result small."""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from edge.logring import PART_BYTES
from edge.sim.central import CentralSim
from tests.support.device import running_device
from tests.support.wait import wait_for

pytestmark = [pytest.mark.timeout(60)]

DEVICE = "omo/v1/store-1/screen-1"


def test_logs_are_redacted_and_split_over_several_results(
    central: CentralSim, device_config: Callable[..., Path]
) -> None:
    noisy = logging.getLogger("edge.test.noisy")
    with running_device(device_config(speed=0.001)):
        assert wait_for(lambda: DEVICE in central.states, 20)
        before = int(time.time() * 1000)
        noisy.warning("adapter reported device AA:BB:CC:DD:EE:0F twice")
        for n in range(400):  # about 120 KiB: more than two results' worth
            noisy.info("filler %03d %s", n, "x" * 280)
        cmd_id = central.command(DEVICE, "logs", {"lines": 1000, "since": before})

        def parts() -> list[dict[str, object]]:
            return list(central.cmd_result_parts.get(cmd_id, []))

        assert wait_for(lambda: bool(parts()) and len(parts()) == parts()[0]["parts"], 15)
        results = sorted(parts(), key=lambda r: int(str(r["part"])))
    assert len(results) >= 3
    assert all(r["ok"] for r in results)
    assert all(len(json.dumps(r).encode()) < PART_BYTES + 16 * 1024 for r in results)
    lines = [line for r in results for line in r["lines"]]  # type: ignore[attr-defined]
    assert "AA:BB:CC:DD:EE:0F" not in "\n".join(lines)
    assert any("device [mac] twice" in line for line in lines)
    fillers = [line for line in lines if "filler" in line]
    assert [int(line.split("filler ")[1][:3]) for line in fillers] == list(range(400))
    assert all(line.split(" ")[0].endswith("Z") for line in lines)  # UTC time on each


def test_logs_since_leaves_older_lines_out(
    central: CentralSim, device_config: Callable[..., Path]
) -> None:
    noisy = logging.getLogger("edge.test.noisy")
    with running_device(device_config(speed=0.001)):
        assert wait_for(lambda: DEVICE in central.states, 20)
        noisy.info("an old line")
        since = int(time.time() * 1000) + 1
        assert wait_for(lambda: time.time() * 1000 >= since, 1)  # the next line is later
        noisy.info("a new line")
        cmd_id = central.command(DEVICE, "logs", {"lines": 50, "since": since})
        assert wait_for(lambda: cmd_id in central.cmd_results, 15)
        result = central.cmd_results[cmd_id]
    text = "\n".join(result["lines"])
    assert "a new line" in text and "an old line" not in text
    assert result["part"] == result["parts"] == 1
