"""systemd integration: READY after the first frame, watchdog pings while frames come, a
clean SIGTERM; and the unit file passes `systemd-analyze verify`."""

from __future__ import annotations

import json
import os
import shutil
import socket
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import paho.mqtt.client as mqtt
import pytest

from edge.outbox.store import Outbox
from edge.sim.broker import Mosquitto
from edge.sim.central import CentralSim
from tests.support.daemon import DaemonProcess
from tests.support.disk import fill
from tests.support.paths import ROOT
from tests.support.systemd import verify_units
from tests.support.wait import wait_for

DEVICE = "omo/v1/store-1/screen-1"


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
def test_unit_files_verify(tmp_path: Path) -> None:
    units = sorted((ROOT / "systemd").glob("omo-edge*"))
    assert {u.name for u in units} >= {
        "omo-edge.service",
        "omo-edge-update.service",
        "omo-edge-update.path",
    }
    assert not verify_units(tmp_path, units)


def test_daemon_unit_is_hardened() -> None:
    """The issue's hardening list, read from the unit as systemd would (last value wins)."""
    settings: dict[str, list[str]] = {}
    for line in (ROOT / "systemd" / "omo-edge.service").read_text().splitlines():
        if "=" in line and not line.lstrip().startswith("#"):
            key, _, value = line.partition("=")
            settings.setdefault(key.strip(), []).append(value.strip())
    one = {k: v[-1] for k, v in settings.items()}
    assert one["User"] == "omo-edge" and one["Type"] == "notify"
    assert one["NoNewPrivileges"] == "yes" and one["ProtectSystem"] == "strict"
    assert one["ProtectHome"] == "yes" and one["PrivateTmp"] == "yes"
    assert one["CapabilityBoundingSet"] == "" and one["AmbientCapabilities"] == ""
    assert "ReadWritePaths" not in one  # only the StateDirectory (and LogsDirectory) is writable
    assert set(one["SupplementaryGroups"].split()) == {"bluetooth", "video", "render", "input"}
    assert one["DevicePolicy"] == "closed"
    assert {"char-drm rw", "char-input r"} <= set(settings["DeviceAllow"])
    assert one["Restart"] == "on-failure" and int(one["WatchdogSec"]) > 0
    for key in ("StateDirectory", "ConfigurationDirectory", "LogsDirectory"):
        assert one[key] == "omo-edge"
    assert "StartLimitBurst" in one and "StartLimitIntervalSec" in one


class NotifyListener:
    """A datagram socket standing in for systemd's NOTIFY_SOCKET; messages with arrival times."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        self.sock.bind(str(path))
        self.sock.settimeout(0.1)
        self.received: list[tuple[float, str]] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._read, daemon=True)
        self._thread.start()

    def _read(self) -> None:
        while not self._stop.is_set():
            try:
                self.received.append((time.monotonic(), self.sock.recv(4096).decode()))
            except TimeoutError:
                continue

    def pings(self, after: float = 0.0) -> int:
        return sum(1 for t, m in list(self.received) if t > after and "WATCHDOG=1" in m)

    def env(self) -> dict[str, str]:
        # Pings every 0.2 s (a third of WatchdogSec, as the daemon does).
        return {"NOTIFY_SOCKET": str(self.path), "WATCHDOG_USEC": "600000"}

    def close(self) -> None:
        self._stop.set()
        self._thread.join(2)
        self.sock.close()


def two_slide_content(folder: Path) -> Path:
    folder.mkdir()
    slides = [
        {"id": "first", "kind": "text", "duration_ms": 1500, "title": "First", "body": ""},
        {"id": "second", "kind": "text", "duration_ms": 1500, "title": "Second", "body": ""},
    ]
    (folder / "playlist.json").write_text(json.dumps({"playlist": slides}))
    return folder


@pytest.mark.slow
@pytest.mark.timeout(90)
def test_watchdog_pings_stop_while_the_renderer_hangs_and_resume_after(
    tmp_path: Path,
    central: CentralSim,
    device_config: Callable[..., Path],
    daemon: Callable[..., DaemonProcess],
) -> None:
    """The render thread blocks in open() like on a dead network mount: the second slide's
    screenshot goes to a named pipe nobody reads. No test hook in the daemon.

    pygame holds the GIL in that call, so the I/O loop stops too; either way systemd hears
    no WATCHDOG=1 and restarts the daemon. (When only the render thread stops, the I/O loop
    sees no recent frame and stops pinging: test_render_alive_only_while_frames_are_recent.)
    """
    shots = tmp_path / "shots"
    shots.mkdir()
    pipe = shots / ".partial-000000002-playlist-second.png"
    os.mkfifo(pipe)
    listener = NotifyListener(tmp_path / "notify.sock")
    reader: threading.Thread | None = None
    try:
        config = device_config(
            speed=0.001,
            content={"default_dir": str(two_slide_content(tmp_path / "content"))},
            display={"stall_s": 1},
        )
        proc = daemon("run", "--config", str(config), env=listener.env())
        assert wait_for(lambda: listener.pings() >= 3, 20), proc.stdout
        # The second slide comes after 1.5 s and hangs on its screenshot; pings stop.
        assert wait_for(lambda: listener.pings(after=time.monotonic() - 1.5) == 0, 20)
        quiet_from = time.monotonic()
        time.sleep(2.0)  # ten ping intervals
        assert listener.pings(after=quiet_from) == 0, "pinged while no frame came"
        assert proc.proc.poll() is None  # hung, not dead: only systemd's watchdog can act
        assert "slide shown: second" not in proc.stdout

        def drain() -> None:
            with pipe.open("rb") as f:
                while f.read(65536):
                    pass

        reader = threading.Thread(target=drain, daemon=True)
        reader.start()  # the mount comes back: the frame completes, frames flow again
        released = time.monotonic()
        assert wait_for(lambda: listener.pings(after=released) >= 3, 20), proc.stdout
        assert wait_for(lambda: "slide shown: second" in proc.stdout, 10), proc.stdout
    finally:
        listener.close()
        if reader is not None:
            reader.join(5)


@pytest.mark.slow
@pytest.mark.timeout(120)
def test_watchdog_pings_continue_while_the_outbox_disk_is_full(
    tmp_path: Path,
    small_disk: Path,
    central: CentralSim,
    device_config: Callable[..., Path],
    daemon: Callable[..., DaemonProcess],
) -> None:
    listener = NotifyListener(tmp_path / "notify.sock")
    filler: Path | None = None
    try:
        config = device_config(
            speed=20.0,
            storage={"path": str(small_disk / "outbox.sqlite3")},
            sync={"ack_timeout_s": 0.5},
        )
        proc = daemon("run", "--config", str(config), env=listener.env())
        assert wait_for(lambda: listener.pings() >= 1, 20), proc.stdout
        filler = fill(small_disk)
        assert wait_for(lambda: "outbox cannot write" in proc.stdout, 30), proc.stdout
        full_at = time.monotonic()
        time.sleep(3.0)
        assert "outbox writes again" not in proc.stdout  # still full all along
        assert listener.pings(after=full_at) >= 5, "stopped pinging because the disk is full"
        assert "not confirming liveness" not in proc.stdout
    finally:
        if filler is not None:
            filler.unlink(missing_ok=True)
        listener.close()


@pytest.mark.slow
@pytest.mark.timeout(90)
def test_sigterm_finishes_the_frame_flushes_the_outbox_and_says_offline(
    tmp_path: Path,
    broker: Mosquitto,
    central: CentralSim,
    device_config: Callable[..., Path],
    daemon: Callable[..., DaemonProcess],
) -> None:
    """Stopped mid-stream (the replay makes events all the time): nothing left pending,
    `offline` retained on P/state, exit 0 within 5 s, no half-written screenshot."""
    config = device_config(speed=20.0)
    proc = daemon("run", "--config", str(config))
    assert wait_for(lambda: len(central.events) >= 20, 30), proc.stdout
    stopped_at = time.monotonic()
    proc.proc.terminate()
    assert proc.wait(10) == 0, proc.stderr
    assert time.monotonic() - stopped_at < 5.0, "took more than 5 s to stop"
    with Outbox(tmp_path / "state" / "outbox.sqlite3") as outbox:
        status = outbox.status()
    assert status["pending"] == 0 and status["inflight"] == 0, status
    assert status["acked_total"] == len(central.events)
    assert retained_state(broker.port, f"{DEVICE}/state")["state"] == "offline"
    shots = tmp_path / "shots"
    assert not list(shots.glob(".partial-*")), "a screenshot was left half written"
    assert sorted(shots.glob("*.png")), "no frame was ever finished"


def retained_state(port: int, topic: str) -> dict[str, Any]:
    """What a client connecting now is told on `topic` (the retained message)."""
    got: list[bytes] = []
    client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, protocol=mqtt.MQTTv5)
    client.on_message = lambda _c, _u, msg: got.append(msg.payload)
    client.connect("127.0.0.1", port)
    client.subscribe(topic, qos=1)
    client.loop_start()
    try:
        assert wait_for(lambda: bool(got), 10), "nothing retained on " + topic
    finally:
        client.loop_stop()
        client.disconnect()
    body: dict[str, Any] = json.loads(got[-1])
    return body
