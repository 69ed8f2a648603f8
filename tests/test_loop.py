"""The whole store loop on real parts: mosquitto, the central simulator, SQLite, pygame."""

from __future__ import annotations

import json
import sqlite3
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
import paho.mqtt.client as mqtt
import pygame
import pytest
import zxingcpp
from paho.mqtt.enums import CallbackAPIVersion

from edge.sim.broker import Mosquitto
from edge.sim.central import CAMPAIGN, CentralSim, coupon_for
from tests.conftest import DEMO_TRACE, DaemonProcess, wait_for

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
    tmp_path: Path,
    central: CentralSim,
    device_config: Callable[..., Path],
    daemon: Callable[..., DaemonProcess],
) -> None:
    config = device_config()
    proc = daemon("run", "--config", str(config), "--duration", "14")
    assert proc.wait() == 0, proc.stderr

    enters = central.events_of("visit.enter")
    assert enters, proc.stdout
    impressions = [e for e in central.events_of("impression") if e["campaign_id"] == CAMPAIGN]
    assert impressions, "no impression of a personal coupon reached central"
    approached = {e["visitor"] for e in central.events_of("approach.enter")}
    assert {i["visitor"] for i in impressions} <= approached  # the fast trigger personalises
    for imp in impressions:
        assert imp["request_id"] and imp["variant"] in ("A", "B") and imp["shown_ms"] > 0
    for event in central.events.values():
        assert set(event) >= {"id", "type", "ts", "clock_synced"}
    assert central.totals()["batches"] > 0

    status = outbox_status(config)
    assert status["pending"] == 0 and status["inflight"] == 0
    assert status["acked_total"] == len(central.events)

    shots = tmp_path / "shots"
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
    daemon: Callable[..., DaemonProcess],
) -> None:
    config = device_config(speed=20.0)
    proc = daemon("run", "--config", str(config), "--duration", "22")
    time.sleep(3.0)
    broker.stop()
    down_ms = time.time() * 1000
    time.sleep(5.0)
    up_ms = time.time() * 1000
    broker.start()
    assert proc.wait() == 0, proc.stderr
    assert "lost the broker" in proc.stdout

    db = sqlite3.connect(tmp_path / "state" / "outbox.sqlite3")
    accepted = db.execute("SELECT value FROM counters WHERE name='accepted_total'").fetchone()[0]
    left = db.execute("SELECT COUNT(*) FROM events").fetchone()[0]
    db.close()
    assert left == 0, "events still waiting after the broker came back"
    assert accepted == len(central.events), "central did not receive every accepted event"
    offline = [e for e in central.events.values() if down_ms <= e["ts"] <= up_ms]
    assert offline, "no event was recorded while the broker was down"


def test_garbage_on_decision_topic_is_rejected_and_daemon_keeps_going(
    broker: Mosquitto,
    central: CentralSim,
    device_config: Callable[..., Path],
    daemon: Callable[..., DaemonProcess],
) -> None:
    config = device_config()
    proc = daemon("run", "--config", str(config), "--duration", "10")
    client = mqtt.Client(CallbackAPIVersion.VERSION2, protocol=mqtt.MQTTv5)
    client.connect("127.0.0.1", broker.port)
    client.loop_start()
    try:
        # Subscribed once it says online (it subscribes before it publishes its state).
        online = lambda: any(s.get("state") == "online" for s in central.states.values())  # noqa: E731
        assert wait_for(online, 30), "the device never came online"
        for payload in (b"\xff\xfe not json", b"[]", b'{"request_id": 5}', b'{"show_ms": -1}'):
            client.publish("omo/v1/store-1/screen-1/decision", payload, qos=1).wait_for_publish(5)
    finally:
        client.loop_stop()
        client.disconnect()
    assert proc.wait() == 0, proc.stderr
    assert "rejected payload on omo/v1/store-1/screen-1/decision" in proc.stdout
    assert [e for e in central.events_of("impression") if e["campaign_id"] == CAMPAIGN], (
        "no personal content shown after the garbage: the daemon stopped working"
    )


def test_malformed_trace_line_is_skipped_and_replay_goes_on(
    tmp_path: Path,
    central: CentralSim,
    device_config: Callable[..., Path],
    daemon: Callable[..., DaemonProcess],
) -> None:
    lines = DEMO_TRACE.read_text().splitlines()
    cut = len(lines) // 10  # before the first visitor walks up
    trace = tmp_path / "broken.jsonl"
    trace.write_text("\n".join([*lines[:cut], "{not json", '{"t": "soon"}', *lines[cut:]]) + "\n")
    config = device_config(trace=trace)
    proc = daemon("run", "--config", str(config), "--duration", "12")
    assert proc.wait() == 0, proc.stderr
    assert f"line {cut + 1}: not JSON" in proc.stdout
    assert f"line {cut + 2}: t must be a non-negative number" in proc.stdout
    assert central.events_of("visit.enter"), "no visit after the malformed lines"


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


def test_unprovisioned_device_plays_fallback_and_warns_of_unknown_key(
    tmp_path: Path,
    daemon: Callable[..., DaemonProcess],
) -> None:
    cfg = tmp_path / "unprovisioned.toml"
    cfg.write_text(
        "[display]\nheadless = true\nwidth = 640\nheight = 360\n"
        f'screenshot_dir = "{tmp_path / "shots"}"\nbrightness = 3\n'
        f'[storage]\npath = "{tmp_path / "state" / "outbox.sqlite3"}"\n'
        f'[presence]\nsource = "replay:{DEMO_TRACE}"\n'
        "replay_speed = 20\n"
    )
    proc = daemon("run", "--config", str(cfg), "--duration", "4")
    assert proc.wait(30) == 0, proc.stderr
    assert "unknown config key display.brightness" in proc.stdout
    assert "not provisioned" in proc.stdout
    shots = list((tmp_path / "shots").glob("*playlist-*.png"))
    assert shots, "no fallback content on screen"
    assert pixels(shots[0]).std() > 10, "the fallback screen is blank"


def test_unacked_batch_is_resent_with_its_id_until_central_acks(
    tmp_path: Path,
    central: CentralSim,
    device_config: Callable[..., Path],
    daemon: Callable[..., DaemonProcess],
) -> None:
    central.acking = False
    config = device_config(sync={"ack_timeout_s": 0.5})
    proc = daemon("run", "--config", str(config), "--duration", "12")
    time.sleep(5.0)
    assert central.events, "nothing was sent while central stayed silent"
    assert outbox_status(config)["inflight"], "a batch left the outbox without an ack"
    central.acking = True
    assert proc.wait() == 0, proc.stderr
    assert max(central.batches.values()) >= 2, "no batch was resent"
    assert central.duplicates > 0
    status = outbox_status(config)
    assert status["pending"] == 0 and status["inflight"] == 0
    assert status["acked_total"] == len(central.events)


def test_retained_state_says_online_while_running_and_offline_after(
    central: CentralSim,
    device_config: Callable[..., Path],
    daemon: Callable[..., DaemonProcess],
) -> None:
    proc = daemon("run", "--config", str(device_config()), "--duration", "4")
    deadline = time.monotonic() + 10
    while "omo/v1/store-1/screen-1" not in central.states and time.monotonic() < deadline:
        time.sleep(0.05)
    online = central.states["omo/v1/store-1/screen-1"]
    assert online["state"] == "online" and online["protocol"] == 1
    assert isinstance(online["clock_synced"], bool) and online["version"]
    assert proc.wait() == 0, proc.stderr
    time.sleep(0.5)
    assert central.states["omo/v1/store-1/screen-1"]["state"] == "offline"


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
            "10",
            "--speed",
            "20",
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
    assert list(shots.glob("*.png"))
