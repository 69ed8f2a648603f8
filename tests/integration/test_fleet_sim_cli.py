"""`omo-ops fleet sim` stopped the way its banner says (Ctrl-C, which reaches the whole
process group, shards included): the simulated screens stop cleanly and the summary is
printed, no traceback and no process left behind."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from edge.sim.broker import Mosquitto
from edge.sim.central import CentralSim
from tests.support.wait import wait_for

pytestmark = [pytest.mark.slow, pytest.mark.timeout(90)]


def test_ctrl_c_stops_the_simulated_fleet_with_its_summary(
    broker: Mosquitto, central: CentralSim, tmp_path: Path
) -> None:
    err = tmp_path / "stderr"
    with err.open("w") as sink:
        proc = subprocess.Popen(
            [sys.executable, "-m", "edge.ops.cli", "fleet", "sim", "--devices", "3",
             "--broker", f"mqtt://127.0.0.1:{broker.port}", "--state-dir", str(tmp_path / "s")],
            stdout=subprocess.PIPE,
            stderr=sink,
            text=True,
            start_new_session=True,  # its own group, as a terminal's foreground job
        )  # fmt: skip
        try:
            assert wait_for(lambda: "Ctrl-C stops" in err.read_text(), 45), err.read_text()
            online = lambda: sum(s.get("state") == "online" for s in central.states.values())  # noqa: E731
            assert wait_for(lambda: online() == 3, 30), central.states  # all connected
            os.killpg(proc.pid, signal.SIGINT)  # what a terminal does on Ctrl-C
            out, _ = proc.communicate(timeout=40)
        finally:
            if proc.poll() is None:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait(10)
    said = err.read_text()
    assert proc.returncode == 0, said
    assert "Traceback" not in said and "did not stop cleanly" not in said, said
    summary = json.loads(out.strip().splitlines()[-1])
    assert summary["devices"] == 3 and summary["connected"] == 3, summary
