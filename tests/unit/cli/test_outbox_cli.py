"""`omo-edge outbox drain|export|status` as ops run them, on real files and a real broker."""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from pathlib import Path

from edge.ids import new_id
from edge.lock import StateLock
from edge.outbox.store import Outbox
from edge.sim.central import CentralSim
from tests.support.cli import omo_edge


def fill(path: Path, count: int) -> list[dict[str, object]]:
    events: list[dict[str, object]] = [
        {
            "id": new_id(),
            "type": "visit.enter",
            "ts": 1_700_000_000_000 + i,
            "clock_synced": True,
            "visitor": f"ibeacon:x:{i}",
            "visit_id": new_id(),
            "zone": "near",
            "rssi": -60,
        }
        for i in range(count)
    ]
    with Outbox(path) as outbox:
        outbox.append(events)
    return events


def test_export_writes_each_pending_event_exactly(
    tmp_path: Path, device_config: Callable[..., Path]
) -> None:
    config = device_config()
    events = fill(tmp_path / "state" / "outbox.sqlite3", 3)
    out = omo_edge("outbox", "export", str(tmp_path / "pending.jsonl"), "--config", str(config))
    assert out.returncode == 0, out.stderr
    lines = (tmp_path / "pending.jsonl").read_text().splitlines()
    assert [json.loads(line) for line in lines] == events
    assert "exported 3 pending events" in out.stderr


def test_drain_pushes_everything_with_progress(
    tmp_path: Path, central: CentralSim, device_config: Callable[..., Path]
) -> None:
    config = device_config()
    events = fill(tmp_path / "state" / "outbox.sqlite3", 2500)
    out = omo_edge("outbox", "drain", "--config", str(config))
    assert out.returncode == 0, out.stderr
    assert "drained: 2500 events acknowledged by central" in out.stderr
    assert "ETA" in out.stderr
    deadline = time.monotonic() + 5
    while len(central.events) < 2500 and time.monotonic() < deadline:
        time.sleep(0.05)
    assert set(central.events) == {e["id"] for e in events}
    status = json.loads(omo_edge("outbox", "status", "--json", "--config", str(config)).stdout)
    assert status["pending"] == 0 and status["inflight"] == 0
    assert status["acked_total"] == 2500


def test_drain_refuses_while_the_daemon_runs(
    tmp_path: Path, device_config: Callable[..., Path]
) -> None:
    config = device_config()
    fill(tmp_path / "state" / "outbox.sqlite3", 1)
    with StateLock(tmp_path / "state", "daemon"):
        out = omo_edge("outbox", "drain", "--config", str(config))
    assert out.returncode == 2
    assert "omo-edge daemon (pid" in out.stderr and "stop it first" in out.stderr


def test_drain_says_when_the_broker_is_unreachable(tmp_path: Path) -> None:
    cfg = tmp_path / "edge.toml"
    cfg.write_text(
        '[device]\nstore_id = "s"\ndevice_id = "d"\n[mqtt]\nhost = "127.0.0.1"\nport = 9\n'
        f'[storage]\npath = "{tmp_path / "outbox.sqlite3"}"\n'
    )
    fill(tmp_path / "outbox.sqlite3", 1)
    out = omo_edge("outbox", "drain", "--config", str(cfg), "--connect-timeout", "2")
    assert out.returncode == 2
    assert "cannot reach the broker at 127.0.0.1:9" in out.stderr
    assert "Traceback" not in out.stderr


def test_outbox_commands_say_which_config_and_state_dir(
    tmp_path: Path, device_config: Callable[..., Path]
) -> None:
    config = device_config()
    fill(tmp_path / "state" / "outbox.sqlite3", 1)
    said = f"omo-edge outbox: config {config}; state in {tmp_path / 'state'}"
    for args in (["status"], ["export", str(tmp_path / "out.jsonl")]):
        out = omo_edge("outbox", *args, "--config", str(config))
        assert out.returncode == 0, out.stderr
        assert out.stderr.splitlines()[0] == said
    defaults = omo_edge("outbox", "status")  # no --config: the built-in defaults, said so
    assert defaults.stderr.splitlines()[0] == (
        "omo-edge outbox: built-in defaults (no --config); state in /var/lib/omo-edge"
    )
