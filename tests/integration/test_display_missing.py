"""A screen that is not there is never hidden behind "screen ready".

With `headless = false` and no panel, SDL falls back to its `offscreen` driver,
which shows nothing. Run by hand, the daemon refuses to start with doctor's
advice; under systemd (an HDMI cable unplugged at boot) it keeps counting and
syncing without a screen, says so in `P/state`, and still tells systemd it is
ready, so the unit does not end in a restart loop.
"""

from __future__ import annotations

import contextlib
import os
import socket
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest

from edge.sim.central import CentralSim
from tests.support.wait import wait_for

pytestmark = [pytest.mark.slow, pytest.mark.timeout(90)]


def no_display_env(**extra: str) -> dict[str, str]:
    """The environment of a Pi with no panel: no SDL driver forced, no desktop."""
    env = {k: v for k, v in os.environ.items() if k not in ("SDL_VIDEODRIVER", "DISPLAY")}
    env.update(extra)
    return env


def test_run_by_hand_without_a_display_refuses_to_start(
    device_config: Callable[..., Path],
) -> None:
    config = device_config(display={"headless": False, "screenshot_dir": ""})
    done = subprocess.run(
        [sys.executable, "-m", "edge.cli", "run", "--config", str(config), "--duration", "20"],
        env=no_display_env(),
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 2, done.stderr
    assert "no usable display" in done.stderr
    assert "offscreen" in done.stderr
    assert "omo-edge doctor" in done.stderr
    assert "screen ready" not in done.stdout + done.stderr


def test_under_systemd_it_runs_on_without_a_screen_and_says_so(
    tmp_path: Path,
    central: CentralSim,
    device_config: Callable[..., Path],
) -> None:
    notify = tmp_path / "notify.sock"
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    sock.bind(str(notify))
    sock.settimeout(0.2)
    messages: list[str] = []

    def heard(text: str) -> bool:
        with contextlib.suppress(TimeoutError):
            messages.append(sock.recv(4096).decode())
        return any(text in m for m in messages)

    config = device_config(display={"headless": False, "screenshot_dir": ""})
    proc = subprocess.Popen(
        [sys.executable, "-m", "edge.cli", "run", "--config", str(config), "--duration", "12"],
        env=no_display_env(NOTIFY_SOCKET=str(notify)),
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        assert wait_for(lambda: heard("READY=1"), 30), messages
        ready = next(m for m in messages if "READY=1" in m)
        assert "running without a display" in ready
        displays = lambda: {s.get("display") for s in central.states.values()}  # noqa: E731
        assert wait_for(lambda: displays() == {"none"}, 20), central.states
        shot = central.command("omo/v1/store-1/screen-1", "screenshot")
        assert wait_for(lambda: shot in central.cmd_results, 10)
        answer = central.cmd_results[shot]
        assert not answer["ok"] and answer["detail"] == "no display on this device", answer
        assert wait_for(lambda: bool(central.events_of("visit.enter")), 30), "nothing synced"
        out, _ = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        sock.close()
    assert proc.returncode == 0, out
    assert "no usable display" in out  # logged as an error, not hidden
    assert "screen ready" not in out
    assert "Traceback" not in out  # a screenshot with no screen is an answer, not a crash
