"""systemd integration: READY after the first frame, watchdog pings while frames come, a
clean SIGTERM; and the unit file passes `systemd-analyze verify`."""

from __future__ import annotations

import shutil
import socket
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from edge.notify import Notifier, render_alive
from edge.sim.central import CentralSim
from tests.conftest import DaemonProcess

ROOT = Path(__file__).resolve().parent.parent


def test_notifier_is_silent_without_systemd() -> None:
    notifier = Notifier({})
    assert not notifier.enabled and notifier.watchdog_s is None
    notifier.send("READY=1")  # does nothing, raises nothing


def test_render_alive_only_while_frames_are_recent() -> None:
    assert render_alive(100.0, 95.0, 10.0)
    assert not render_alive(100.0, 89.0, 10.0)


@pytest.mark.slow
@pytest.mark.timeout(60)
def test_ready_after_first_frame_watchdog_pings_and_clean_sigterm(
    tmp_path: Path,
    central: CentralSim,
    device_config: Callable[..., Path],
    daemon: Callable[..., DaemonProcess],
) -> None:
    path = tmp_path / "notify.sock"
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    sock.bind(str(path))
    sock.settimeout(0.2)
    received: list[tuple[float, str]] = []
    try:
        proc = daemon(
            "run",
            "--config",
            str(device_config(speed=0.001)),
            env={"NOTIFY_SOCKET": str(path), "WATCHDOG_USEC": "600000"},
        )
        deadline = time.monotonic() + 15
        while time.monotonic() < deadline and sum("WATCHDOG=1" in m for _, m in received) < 3:
            try:
                received.append((time.time(), sock.recv(4096).decode()))
            except TimeoutError:
                continue
        ready = [t for t, m in received if "READY=1" in m]
        assert ready, received
        # The first frame is presented, then its screenshot written (the file's mtime is
        # when the PNG was complete): READY falls between the two.
        first_shot = min(p.stat().st_mtime for p in (tmp_path / "shots").glob("*.png"))
        assert first_shot - 0.5 <= ready[0] <= first_shot + 1.0, (ready[0], first_shot)
        assert sum("WATCHDOG=1" in m for _, m in received) >= 3
        stopped_at = time.monotonic()
        proc.proc.terminate()
        assert proc.wait(10) == 0
        assert time.monotonic() - stopped_at < 5.0, "took more than 5 s to stop"
        while True:
            try:
                received.append((time.time(), sock.recv(4096).decode()))
            except TimeoutError:
                break
        assert any("STOPPING=1" in m for _, m in received)
        out = proc.stdout
        assert out.index("screen ready") < out.index("told systemd we are ready")
        time.sleep(0.3)
        assert central.states["omo/v1/store-1/screen-1"]["state"] == "offline"
    finally:
        sock.close()


@pytest.mark.skipif(shutil.which("systemd-analyze") is None, reason="no systemd-analyze")
def test_unit_file_verifies(tmp_path: Path) -> None:
    unit = (ROOT / "systemd" / "omo-edge.service").read_text()
    exe = Path(sys.executable).parent / "omo-edge"
    unit = unit.replace("/opt/omo-edge/.venv/bin/omo-edge", str(exe))
    (tmp_path / "omo-edge.service").write_text(unit)
    out = subprocess.run(
        ["systemd-analyze", "verify", str(tmp_path / "omo-edge.service")],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    problems = [
        line for line in (out.stdout + out.stderr).splitlines() if "omo-edge.service" in line
    ]
    assert not problems, problems
