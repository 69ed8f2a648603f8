"""`omo-ops ingest --workers 2` as a user runs it: a process tree that stores what the devices
send, and stops cleanly on SIGTERM; a `--db` it cannot use is refused in words."""

from __future__ import annotations

import signal
import subprocess
import sys
import threading
from pathlib import Path

from edge.sim.broker import Mosquitto
from tests.support.ingest import device_loop, stored_ids
from tests.support.paths import ROOT
from tests.support.wait import wait_for


def test_the_ingest_command_stores_events_with_two_workers_and_stops_on_sigterm(
    broker: Mosquitto, tmp_path: Path
) -> None:
    url = f"sqlite:///{tmp_path}/central.sqlite3"
    cmd = [
        sys.executable,
        "-m",
        "edge.ops.cli",
        "ingest",
        "--broker",
        f"mqtt://127.0.0.1:{broker.port}",
        "--db",
        url,
        "--workers",
        "2",
    ]
    proc = subprocess.Popen(
        cmd, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
    )
    lines: list[str] = []
    reader = threading.Thread(target=lambda: lines.extend(iter(proc.stdout.readline, "")))  # type: ignore[union-attr]
    reader.start()
    try:
        # Both workers subscribed first: a batch sent to nobody waits for the device's resend.
        assert wait_for(lambda: sum("ingesting $share/" in line for line in lines) == 2, 60)
        with device_loop() as fleet:
            fleet.start(4, broker.port, tmp_path / "devices", backlog=50)
            assert wait_for(lambda: fleet.pending() == 0, 30), fleet.pending()
            committed = fleet.committed()
        proc.send_signal(signal.SIGTERM)
        proc.wait(30)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(10)
        reader.join(10)
        proc.stdout.close()  # type: ignore[union-attr]
    out = "".join(lines)
    assert proc.returncode == 0, out
    assert "2 ingest workers" in out
    assert sorted(stored_ids(url)) == sorted(committed)


def test_a_database_url_it_cannot_use_is_refused_in_words(tmp_path: Path) -> None:
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "edge.ops.cli",
            "ingest",
            "--broker",
            "mqtt://127.0.0.1:1",
            "--db",
            "mysql://db/omo",
        ],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )
    assert done.returncode == 2
    assert "give sqlite:///PATH or postgresql://" in done.stderr
    assert "Traceback" not in done.stderr
