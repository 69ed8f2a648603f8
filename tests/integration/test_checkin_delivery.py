"""A check-in is acknowledged to the broker only after it is committed: one that reached a
daemon which died before committing it comes again, and is stored once."""

from __future__ import annotations

import json
import signal
import time
from collections.abc import Callable
from pathlib import Path

import paho.mqtt.client as mqtt
import pytest
from paho.mqtt.enums import CallbackAPIVersion

from edge.sim.broker import Mosquitto
from edge.sim.central import CentralSim
from tests.support.daemon import DaemonProcess
from tests.support.screen import screen_checkin_nonce
from tests.support.wait import wait_for

pytestmark = [pytest.mark.slow, pytest.mark.timeout(90)]
TOPIC = "omo/v1/store-1/screen-1/checkin"


def publish(port: int, payload: dict[str, object]) -> None:
    client = mqtt.Client(CallbackAPIVersion.VERSION2, protocol=mqtt.MQTTv5)
    client.connect("127.0.0.1", port)
    client.loop_start()
    try:
        client.publish(TOPIC, json.dumps(payload), qos=1).wait_for_publish(5)
    finally:
        client.loop_stop()
        client.disconnect()


def checkins(central: CentralSim, nonce: str) -> list[dict[str, object]]:
    return [e for e in central.events_of("checkin") if e["nonce"] == nonce]


def test_checkin_received_by_a_daemon_that_dies_is_redelivered_and_stored_once(
    broker: Mosquitto,
    central: CentralSim,
    device_config: Callable[..., Path],
    daemon: Callable[..., DaemonProcess],
) -> None:
    config = device_config(speed=0.001, sync={"ack_timeout_s": 0.5})
    first = daemon("run", "--config", str(config))
    assert wait_for(lambda: "omo/v1/store-1/screen-1" in central.states, 20)
    nonce = screen_checkin_nonce(central, "omo/v1/store-1/screen-1")
    first.proc.send_signal(signal.SIGSTOP)  # frozen: the bytes arrive, nothing handles them
    publish(
        broker.port,
        {"visitor": "member-42", "nonce": nonce, "consent": ["analytics", "personalize"], "ts": 1},
    )
    time.sleep(0.5)
    first.proc.kill()  # dies without having committed or acknowledged it
    first.proc.wait(10)
    assert checkins(central, nonce) == []

    second = daemon("run", "--config", str(config))
    assert wait_for(lambda: bool(checkins(central, nonce)), 30), second.stdout
    time.sleep(1.5)
    second.stop()
    stored = checkins(central, nonce)
    assert len(stored) == 1, stored
    assert stored[0]["visitor"] == "member-42" and stored[0]["via"] == "central"


def test_checkin_sent_while_the_daemon_is_down_arrives_when_it_returns(
    broker: Mosquitto,
    central: CentralSim,
    device_config: Callable[..., Path],
    daemon: Callable[..., DaemonProcess],
) -> None:
    config = device_config(speed=0.001)
    first = daemon("run", "--config", str(config))
    assert wait_for(lambda: "omo/v1/store-1/screen-1" in central.states, 20)
    nonce = screen_checkin_nonce(central, "omo/v1/store-1/screen-1")
    first.proc.kill()
    first.proc.wait(10)
    publish(broker.port, {"visitor": "member-7", "nonce": nonce, "consent": [], "ts": 1})
    second = daemon("run", "--config", str(config))
    assert wait_for(lambda: bool(checkins(central, nonce)), 30), second.stdout
    second.stop()
    (stored,) = checkins(central, nonce)
    assert stored["visitor"] is None, "without analytics consent the visitor is not recorded"
