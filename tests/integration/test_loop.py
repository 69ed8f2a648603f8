"""The whole store loop on real parts: mosquitto, the central simulator, SQLite, pygame.

The daemon runs in this process (tests/support/device.py) unless the process itself is
what is checked: exit codes and what `omo-edge` prints."""

from __future__ import annotations

import json
import sqlite3
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import paho.mqtt.client as mqtt
import pygame
import pytest
import zxingcpp
from paho.mqtt.enums import CallbackAPIVersion

from edge import config as config_mod
from edge.app import Device
from edge.cli import make_source
from edge.sim.broker import Mosquitto
from edge.sim.central import CAMPAIGN, CentralSim, coupon_for
from tests.support.central import received
from tests.support.daemon import DaemonProcess
from tests.support.device import captured_log, pending, running_device
from tests.support.paths import DEMO_TRACE
from tests.support.wait import wait_for

pytestmark = [pytest.mark.slow, pytest.mark.timeout(120)]


def outbox_status(config: Path) -> dict[str, object]:
    out = subprocess.run(
        [sys.executable, "-m", "edge.cli", "outbox", "status", "--json", "--config", str(config)],
        capture_output=True,
        text=True,
        timeout=30,
        check=True,
    )
    status: dict[str, object] = json.loads(out.stdout)
    return status


def pixels(path: Path) -> np.ndarray:
    surface = pygame.image.load(str(path))
    return np.asarray(pygame.surfarray.array3d(surface)).swapaxes(0, 1)


def test_visit_becomes_coupon_impression_and_synced_events(
    tmp_path: Path, central: CentralSim, device_config: Callable[..., Path]
) -> None:
    central.show_ms = 3000  # the impression is recorded when the coupon leaves the screen
    config = device_config()
    shots = tmp_path / "shots"

    def personal_impressions() -> list[dict[str, Any]]:
        return [e for e in central.events_of("impression") if e["campaign_id"] == CAMPAIGN]

    with running_device(config):
        assert wait_for(lambda: bool(personal_impressions()), 30), "no personal impression"
        assert wait_for(lambda: bool(list(shots.glob("*personal-coupon*.png"))), 20)
        assert wait_for(lambda: bool(list(shots.glob("*playlist-*.png"))), 10)

    enters = central.events_of("visit.enter")
    assert enters
    impressions = personal_impressions()
    assert impressions, "no impression of a personal coupon reached central"
    approached = {e["visitor"] for e in central.events_of("approach.enter")}
    assert {i["visitor"] for i in impressions} <= approached  # the fast trigger personalises
    for imp in impressions:
        assert imp["request_id"] and imp["variant"] in ("A", "B") and imp["shown_ms"] > 0
    for event in received(central):
        assert set(event) >= {"id", "type", "ts", "clock_synced"}
    assert central.totals()["batches"] > 0

    status = outbox_status(config)
    assert status["pending"] == 0 and status["inflight"] == 0
    assert status["acked_total"] == len(central.events)

    coupons = sorted(shots.glob("*personal-coupon*.png"))
    fallbacks = sorted(shots.glob("*playlist-*.png"))
    assert coupons and fallbacks
    qr_urls = {coupon_for(v)["qr_url"] for v in approached}
    decoded = {b.text for b in zxingcpp.read_barcodes(pixels(coupons[0]))}
    assert decoded & qr_urls, f"coupon screenshot QR {decoded} is not one of the visitors' coupons"
    fallback = pixels(fallbacks[0])
    coupon = pixels(coupons[0])
    assert coupon.shape == fallback.shape
    assert (np.abs(coupon.astype(int) - fallback.astype(int)).sum(axis=2) > 30).mean() > 0.2


def test_broker_outage_loses_nothing(
    tmp_path: Path,
    broker: Mosquitto,
    central: CentralSim,
    device_config: Callable[..., Path],
) -> None:
    config = device_config(speed=20.0)
    with captured_log() as log, running_device(config) as device:
        assert wait_for(lambda: bool(central.events), 20), "nothing synced before the outage"
        broker.stop()
        down_ms = time.time() * 1000
        assert wait_for(lambda: "lost the broker" in log.text, 10), log.text
        # The broker stays down until the device has recorded a visit it cannot send.
        seen = log.text.count("visitor ")
        assert wait_for(lambda: log.text.count("visitor ") > seen, 20), "no visit while down"
        assert wait_for(lambda: pending(device) > 0, 10), "the visit never reached the outbox"
        up_ms = time.time() * 1000
        broker.start()
        assert wait_for(lambda: pending(device) == 0, 30), "events still waiting after the outage"
        back = log.text.split("lost the broker")[-1]
        assert back.count("connected to broker") == 1, back  # said once, not twice

    db = sqlite3.connect(tmp_path / "state" / "outbox.sqlite3")
    accepted = db.execute("SELECT value FROM counters WHERE name='accepted_total'").fetchone()[0]
    left = db.execute("SELECT COUNT(*) FROM batches").fetchone()[0]
    db.close()
    assert left == 0, "events still waiting after the broker came back"
    assert accepted == len(central.events), "central did not receive every accepted event"
    offline = [e for e in received(central) if down_ms <= e["ts"] <= up_ms]
    assert offline, "no event was recorded while the broker was down"


def test_garbage_on_decision_topic_is_rejected_and_daemon_keeps_going(
    broker: Mosquitto, central: CentralSim, device_config: Callable[..., Path]
) -> None:
    central.show_ms = 3000  # an impression: on screen at least its min_impression_ms (2 s)
    config = device_config()
    client = mqtt.Client(CallbackAPIVersion.VERSION2, protocol=mqtt.MQTTv5)
    client.connect("127.0.0.1", broker.port)
    client.loop_start()
    with captured_log() as log, running_device(config):
        # Subscribed once it says online (it subscribes before it publishes its state).
        online = lambda: any(s.get("state") == "online" for s in central.states.values())  # noqa: E731
        assert wait_for(online, 30), "the device never came online"
        try:
            for payload in (b"\xff\xfe not json", b"[]", b'{"request_id": 5}', b'{"show_ms": -1}'):
                client.publish("omo/v1/store-1/screen-1/decision", payload, qos=1).wait_for_publish(
                    5
                )
        finally:
            client.loop_stop()
            client.disconnect()
        rejected = "rejected payload on omo/v1/store-1/screen-1/decision"
        assert wait_for(lambda: rejected in log.text, 10), log.text
        after = int(time.time() * 1000)
        assert wait_for(
            lambda: any(
                e["campaign_id"] == CAMPAIGN and e["ts"] >= after
                for e in central.events_of("impression")
            ),
            30,
        ), "no personal content shown after the garbage: the daemon stopped working"


def test_malformed_trace_line_is_skipped_and_replay_goes_on(
    tmp_path: Path, central: CentralSim, device_config: Callable[..., Path]
) -> None:
    lines = DEMO_TRACE.read_text().splitlines()
    cut = len(lines) // 10  # early in the trace, visitors walk up after it
    trace = tmp_path / "broken.jsonl"
    trace.write_text("\n".join([*lines[:cut], "{not json", '{"t": "soon"}', *lines[cut:]]) + "\n")
    config = device_config(trace=trace)
    with captured_log() as log, running_device(config):
        assert wait_for(lambda: f"line {cut + 2}: t must be" in log.text, 20), log.text
        skipped = int(time.time() * 1000)
        assert wait_for(
            lambda: any(e["ts"] >= skipped for e in central.events_of("visit.enter")), 30
        ), "no visit after the malformed lines"
    assert f"line {cut + 1}: not JSON" in log.text
    assert f"line {cut + 2}: t must be a non-negative number" in log.text


def test_bad_config_value_names_key_value_and_what_is_allowed(
    tmp_path: Path,
    daemon: Callable[..., DaemonProcess],
) -> None:
    bad = tmp_path / "bad.toml"
    bad.write_text('[mqtt]\nhost = "127.0.0.1"\nport = "eighteen"\n')
    proc = daemon("run", "--config", str(bad))
    assert proc.wait(30) == 2
    assert "mqtt.port" in proc.stderr and "'eighteen'" in proc.stderr
    assert "an integer 1-65535" in proc.stderr
    assert "Traceback" not in proc.stderr + proc.stdout


def test_unprovisioned_device_plays_fallback_and_warns_of_unknown_key(tmp_path: Path) -> None:
    cfg = tmp_path / "unprovisioned.toml"
    cfg.write_text(
        "[display]\nheadless = true\nwidth = 640\nheight = 360\n"
        f'screenshot_dir = "{tmp_path / "shots"}"\nbrightness = 3\n'
        f'[storage]\npath = "{tmp_path / "state" / "outbox.sqlite3"}"\n'
        f'[presence]\nsource = "replay:{DEMO_TRACE}"\n'
        "replay_speed = 20\n"
    )
    shots = tmp_path / "shots"
    with captured_log() as log, running_device(cfg, online=False):
        assert wait_for(lambda: bool(list(shots.glob("*playlist-*.png"))), 20), (
            "no fallback content on screen"
        )
    assert "unknown config key display.brightness" in log.text
    assert "not provisioned" in log.text
    shot = sorted(shots.glob("*playlist-*.png"))[0]
    assert pixels(shot).std() > 10, "the fallback screen is blank"


def test_unacked_batch_is_resent_with_its_id_until_central_acks(
    central: CentralSim, device_config: Callable[..., Path]
) -> None:
    central.acking = False
    config = device_config(sync={"ack_timeout_s": 0.5})
    with running_device(config) as device:
        assert wait_for(lambda: bool(central.events), 20), "nothing was sent"
        assert outbox_status(config)["inflight"], "a batch left the outbox without an ack"
        assert wait_for(lambda: max(central.batches.values()) >= 2, 10), "no batch was resent"
        central.acking = True
        assert wait_for(lambda: pending(device) == 0, 30), "central's acks were not taken"
    assert central.duplicates > 0
    status = outbox_status(config)
    assert status["pending"] == 0 and status["inflight"] == 0
    assert status["acked_total"] == len(central.events)


def test_a_stop_right_after_central_comes_back_sends_at_once_not_after_the_backoff(
    central: CentralSim, device_config: Callable[..., Path]
) -> None:
    """The ack timeout doubles while central does not acknowledge (0.1, 0.2, ... 3.2 s);
    the stop's 3 s drain must not sit out the rest of it."""
    central.acking = False
    config = device_config(speed=0.001, sync={"ack_timeout_s": 0.1}, health={"interval_s": 1})
    with running_device(config):
        assert wait_for(lambda: max(central.batches.values(), default=0) >= 6, 30)
        central.acking = True  # back, but the device would wait 3.2 s or more to resend
    status = outbox_status(config)
    assert status["inflight"] == 0 and status["pending"] == 0, status


@pytest.mark.timeout(60)
def test_stop_when_drained_commits_what_is_held_instead_of_waiting_out_the_hold(
    tmp_path: Path, central: CentralSim, device_config: Callable[..., Path]
) -> None:
    """The demo and the benchmarks end once the replay is over and central has it all; an
    event held for the SD card's sake (`hold_s`, here 5 minutes) is committed there and then."""
    config = device_config(speed=0, storage={"hold_s": 300.0})
    cfg = config_mod.load(config)
    source, done = make_source(cfg)
    stats = Device(cfg, source, source_done=done).run(duration_s=600, stop_when_drained=True)
    assert stats.events_pending == 0 and stats.events_synced > 0
    assert len(central.events) == stats.events_synced


def test_retained_state_says_online_while_running_and_offline_after(
    central: CentralSim, device_config: Callable[..., Path]
) -> None:
    with running_device(device_config()):
        assert wait_for(lambda: "omo/v1/store-1/screen-1" in central.states, 10)
        online = central.states["omo/v1/store-1/screen-1"]
        assert online["state"] == "online" and online["protocol"] == 1
        assert isinstance(online["clock_synced"], bool) and online["version"]
    assert wait_for(lambda: central.states["omo/v1/store-1/screen-1"]["state"] == "offline", 10), (
        central.states
    )


def test_demo_ends_by_itself_with_a_json_summary(tmp_path: Path) -> None:
    shots = tmp_path / "shots"
    out = subprocess.run(
        [
            sys.executable,
            "-m",
            "edge.cli",
            "demo",
            "--headless",
            "--duration",
            "5",
            "--speed",
            "40",  # the first visitor walks up within a second
            "--screenshots",
            str(shots),
        ],
        capture_output=True,
        text=True,
        timeout=90,
        check=False,
    )
    assert out.returncode == 0, out.stderr
    summary = json.loads(out.stdout.strip().splitlines()[-1])
    assert summary["visitors_seen"] > 0 and summary["decisions"] > 0
    assert summary["impressions"] > 0 and summary["events_synced"] > 0
    assert summary["events_pending"] == 0
    assert summary["central_events"] == summary["events_synced"]
    for line in ("visitor entered", "decision received", "slide shown", "batch synced"):
        assert line in out.stdout
    # the summary counts exactly what was shown: every 'slide shown' line is an
    # impression or was too short to count, and has its screenshot
    shown = out.stdout.count("slide shown:")
    assert summary["slides_shown"] == shown == len(list(shots.glob("*.png")))
    assert shown == summary["impressions"] + summary["shown_too_short"]
