"""Remote commands through a real Mosquitto: central publishes on `P/cmd`, the device answers
on `P/cmd/result` and the effect is visible; bad commands are refused with a result (or, with
no cmd_id to answer, logged and counted) and the daemon keeps running. Also the periodic
`device.health` event. (Screenshot, reload, a repeated cmd_id and a bad log level are in
tests/integration/test_content_loop.py.)"""

from __future__ import annotations

import base64
import contextlib
import json
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from edge.health import cpu_temperature_c
from edge.sim.central import CentralSim
from tests.support.device import captured_log, running_device
from tests.support.device import pending_events as device_pending
from tests.support.wait import wait_for

pytestmark = [pytest.mark.slow, pytest.mark.timeout(120)]

DEVICE = "omo/v1/store-1/screen-1"


def result(central: CentralSim, cmd_id: str, seconds: float = 15) -> dict[str, Any]:
    assert wait_for(lambda: cmd_id in central.cmd_results, seconds), f"no result for {cmd_id}"
    return central.cmd_results[cmd_id]


def send_raw(central: CentralSim, body: dict[str, Any] | bytes) -> None:
    payload = body if isinstance(body, bytes) else json.dumps(body).encode()
    central.publish(f"{DEVICE}/cmd", payload)


@contextlib.contextmanager
def running(
    central: CentralSim, device_config: Callable[..., Path], **tables: dict[str, Any]
) -> Iterator[Path]:
    """The device in this process, once central has heard it; yields its config."""
    config = device_config(**tables)
    with running_device(config):
        assert wait_for(lambda: DEVICE in central.states, 20), central.states
        yield config


def test_set_log_level_debug_makes_debug_lines_appear(
    central: CentralSim, device_config: Callable[..., Path]
) -> None:
    stray = "omo/v1/store-1/screen-1/asset/" + "0" * 64  # an asset nobody asked for: debug line
    with captured_log() as log, running(central, device_config, speed=0.001):
        central.publish(stray, b"x")
        assert result(central, central.command(DEVICE, "reload"))["ok"]
        assert "debug:" not in log.text
        answer = result(central, central.command(DEVICE, "set_log_level", {"level": "debug"}))
        assert answer == {"cmd_id": answer["cmd_id"], "ok": True, "detail": "log level debug"}
        central.publish(stray, b"x")
        assert wait_for(lambda: "debug: asset 000000000000 nobody waits for" in log.text, 10), (
            log.text
        )
        back = result(central, central.command(DEVICE, "set_log_level", {"level": "info"}))
        assert back["ok"]
        lines_before = log.text.count("debug:")
        central.publish(stray, b"x")
        assert result(central, central.command(DEVICE, "reload"))["ok"]
        assert log.text.count("debug:") == lines_before


def _visitors(events: list[dict[str, Any]], type_: str | None = None) -> set[str]:
    return {e["visitor"] for e in events if e.get("visitor") and type_ in (None, e["type"])}


def pending_events(config: Path) -> list[dict[str, Any]]:
    """The outbox's unacknowledged events, read as ops would (`omo-edge outbox export`)."""
    exported = subprocess.run(
        [sys.executable, "-m", "edge.cli", "outbox", "export", "-", "--config", str(config)],
        capture_output=True,
        text=True,
        timeout=30,
        check=True,
    ).stdout
    return [json.loads(line) for line in exported.splitlines()]


def test_purge_visitor_deletes_their_pending_events(
    central: CentralSim, device_config: Callable[..., Path]
) -> None:
    central.acking = False  # nothing is acknowledged: every event stays in the outbox
    config = device_config(speed=40.0)
    with captured_log() as log, running_device(config) as device:
        # Wait until visitors have come and gone (the 240 s trace replays in 6 s).
        exited = lambda: _visitors(device_pending(device), "visit.exit")  # noqa: E731
        assert wait_for(lambda: len(exited()) >= 2, 40), log.text
        target, *others = sorted(exited())
        asked = int(time.time() * 1000)
        answer = result(central, central.command(DEVICE, "purge_visitor", {"visitor": target}))
        assert answer["ok"] is True
        assert "events about this visitor deleted" in answer["detail"], answer
        assert int(answer["detail"].split()[0]) >= 2, answer  # at least the enter and the exit
    after = pending_events(config)
    # A personal slide still on screen at the purge is a new impression when it ends.
    assert not [e for e in after if e.get("visitor") == target and e["ts"] < asked]
    left = _visitors(after)
    assert set(others) <= left, "other visitors' events went too"
    assert target not in log.text, "a visitor id was logged"


def test_screenshot_png_decodes_to_the_screen_size(
    tmp_path: Path, central: CentralSim, device_config: Callable[..., Path]
) -> None:
    import pygame

    with running(central, device_config, speed=0.001):
        answer = result(central, central.command(DEVICE, "screenshot"))
    assert answer["ok"] is True
    shot = tmp_path / "shot.png"
    shot.write_bytes(base64.b64decode(answer["png_b64"]))
    picture = pygame.image.load(str(shot))
    assert picture.get_size() == (960, 540)  # the configured panel
    colours = {picture.get_at((x, y))[:3] for x in range(0, 960, 40) for y in range(0, 540, 40)}
    assert len(colours) > 2, "a blank screenshot"


def test_bad_commands_are_refused_with_a_result_and_the_daemon_keeps_running(
    central: CentralSim, device_config: Callable[..., Path]
) -> None:
    with captured_log() as log, running_device(device_config(speed=0.001)) as device:
        assert wait_for(lambda: DEVICE in central.states, 20), central.states
        now = int(time.time() * 1000)
        send_raw(central, b"{this is not json")
        send_raw(central, b'["cmd_id", "reload"]')
        send_raw(central, {"cmd": "reload", "expires_ts": now + 60_000})  # no cmd_id: no answer
        send_raw(central, {"cmd_id": "c-no-expiry", "cmd": "reload"})
        send_raw(
            central, {"cmd_id": "c-unknown", "cmd": "selfdestruct", "expires_ts": now + 60_000}
        )
        send_raw(
            central, {"cmd_id": "c-no-visitor", "cmd": "purge_visitor", "expires_ts": now + 60_000}
        )
        # Expired in 2023: refused whether or not this machine's clock is synchronised.
        send_raw(central, {"cmd_id": "c-expired", "cmd": "reload", "expires_ts": 1_700_000_000_000})

        missing = result(central, "c-no-expiry")
        assert missing["ok"] is False and "expires_ts" in missing["detail"]
        unknown = result(central, "c-unknown")
        assert unknown == {
            "cmd_id": "c-unknown",
            "ok": False,
            "detail": "unknown command 'selfdestruct'",
        }
        no_visitor = result(central, "c-no-visitor")
        assert no_visitor["ok"] is False and "args.visitor" in no_visitor["detail"]
        expired = result(central, "c-expired")
        assert expired["ok"] is False and "expired" in expired["detail"]

        # Still running and still obeying (after everything above, on the same topic); the
        # unanswerable ones are logged and counted.
        assert result(central, central.command(DEVICE, "reload"))["ok"] is True
        assert not device.stop.is_set()
        assert "rejected payload on omo/v1/store-1/screen-1/cmd" in log.text
        assert len(central.cmd_results) == 5, central.cmd_results


def test_an_expired_command_is_not_carried_out_later_either(
    central: CentralSim, device_config: Callable[..., Path]
) -> None:
    """An expired cmd_id is refused without being remembered, so no replay can make it run."""
    with running(central, device_config, speed=0.001):
        body = {"cmd_id": "c-late", "cmd": "set_log_level", "args": {"level": "debug"}}
        send_raw(central, {**body, "expires_ts": 1_700_000_000_000})
        assert result(central, "c-late")["ok"] is False
        central.cmd_results.clear()
        send_raw(central, {**body, "expires_ts": int(time.time() * 1000) + 60_000})
        assert result(central, "c-late")["ok"] is True


def test_repeated_cmd_id_is_refused_after_a_restart(
    central: CentralSim, device_config: Callable[..., Path]
) -> None:
    with running(central, device_config, speed=0.001) as config:
        assert result(central, central.command(DEVICE, "reload", cmd_id="c-once"))["ok"] is True
    central.states.clear()
    central.cmd_results.clear()
    with running_device(config):
        assert wait_for(lambda: central.states.get(DEVICE, {}).get("state") == "online", 20), (
            central.states
        )
        replay = result(central, central.command(DEVICE, "reload", cmd_id="c-once"))
        assert replay["ok"] is False and "already carried out" in replay["detail"]


HEALTH_FIELDS = {
    "uptime_s",
    "fps",
    "frames",
    "disk_free_bytes",
    "disk_free_pct",
    "memory_rss_bytes",
    "memory_available_bytes",
    "outbox_pending",
    "dropped_total",
    "incoming_dropped",
    "scanner_state",
    "broker_connected",
    "clock_synced",
}


def test_device_health_reaches_central_with_the_machine_figures(
    central: CentralSim, device_config: Callable[..., Path]
) -> None:
    with running(central, device_config, speed=0.001, health={"interval_s": 1}):
        assert wait_for(lambda: len(central.events_of("device.health")) >= 3, 20)
    reports = sorted(central.events_of("device.health"), key=lambda e: e["ts"])
    for report in reports:
        assert set(report) >= HEALTH_FIELDS, HEALTH_FIELDS - set(report)
        assert ("cpu_temp_c" in report) == (cpu_temperature_c() is not None)
    last = reports[-1]
    assert last["uptime_s"] >= 2
    assert last["broker_connected"] == 1 and last["scanner_state"] == "replaying"
    assert 0 < last["disk_free_pct"] <= 100 and last["disk_free_bytes"] > 0
    assert last["memory_rss_bytes"] > 10 * 1024**2 and last["memory_available_bytes"] > 0
    assert sum(r["fps"] for r in reports) > 0, "no frames counted"
    assert all(r["fps"] <= 30.5 for r in reports)  # [display] fps = 30
