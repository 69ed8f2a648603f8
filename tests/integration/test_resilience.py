"""An unexpected exception in any handler or task: logged, counted, and the device keeps
syncing and answering (the old inbox died on the first one and the screen played on deaf).

The whole daemon runs in this process (real Mosquitto, central simulator, SQLite,
SDL's dummy driver). Each failure is injected once through a public part of the
running device, then the test checks that it was counted where ops will see it
(`device.health`) and that the loop still works end to end afterwards.
"""

from __future__ import annotations

import functools
import inspect
import json
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import paho.mqtt.client as mqtt
import pytest
from paho.mqtt.enums import CallbackAPIVersion

from edge.content.manager import ContentManager
from edge.outbox.store import Outbox
from edge.sim.broker import Mosquitto
from edge.sim.central import CAMPAIGN, CentralSim
from tests.support.device import running_device
from tests.support.wait import wait_for

pytestmark = [pytest.mark.slow, pytest.mark.timeout(120)]


class Injected(RuntimeError):
    """The bug we plant (not an error any part of omo-edge expects)."""


def fail_once(monkeypatch: pytest.MonkeyPatch, owner: object, name: str) -> list[int]:
    """Make `owner.name` raise Injected the next time it is called; returns a list that
    gets one item when it did."""
    original = getattr(owner, name)
    fired: list[int] = []

    def trip() -> None:
        if not fired:
            fired.append(1)
            raise Injected(f"{name} planted to fail once")

    if inspect.iscoroutinefunction(original):

        @functools.wraps(original)
        async def async_wrapper(*args: Any, **kwargs: Any) -> Any:
            trip()
            return await original(*args, **kwargs)

        monkeypatch.setattr(owner, name, async_wrapper)
    else:

        @functools.wraps(original)
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            trip()
            return original(*args, **kwargs)

        monkeypatch.setattr(owner, name, wrapper)
    return fired


def publish(port: int, messages: list[tuple[str, bytes]]) -> None:
    client = mqtt.Client(CallbackAPIVersion.VERSION2, protocol=mqtt.MQTTv5)
    client.connect("127.0.0.1", port)
    client.loop_start()
    try:
        for topic, payload in messages:
            client.publish(topic, payload, qos=1).wait_for_publish(5)
    finally:
        client.loop_stop()
        client.disconnect()


def test_a_failure_in_every_handler_and_task_is_counted_and_the_device_goes_on(
    monkeypatch: pytest.MonkeyPatch,
    broker: Mosquitto,
    central: CentralSim,
    device_config: Callable[..., Path],
) -> None:
    central.show_ms = 1000  # a coupon's impression is recorded when it leaves the screen
    config = device_config(
        speed=20.0,
        presence={"replay_loop": True},
        sync={"ack_timeout_s": 0.5},
        health={"interval_s": 1},
    )
    # The content task wakes when the schedule next changes, at most every 30 s: its bug is
    # planted before the start, so its first round meets it.
    content_fired = fail_once(monkeypatch, ContentManager, "tick")
    with running_device(config) as device:
        io = device.io
        online = io.online
        assert online is not None
        topics = online.link.topics
        # Handlers: each route's first collaborator raises once.
        assert io.outbox.syncer is not None and io.personalize.decider is not None
        handlers = {
            "events_ack": fail_once(monkeypatch, io.outbox.syncer, "ack"),
            "decision": fail_once(monkeypatch, io.personalize.decider, "answer"),
            "checkin": fail_once(monkeypatch, io.checkin.nonces, "use"),
            "cmd": fail_once(monkeypatch, online.commands, "receive"),
            "manifest": fail_once(monkeypatch, online.content.manager, "receive_manifest"),
            "asset": fail_once(monkeypatch, online.content.jobs, "submit"),
        }
        # Tasks: each one's loop meets a planted bug once.
        tasks = {
            "presence": fail_once(monkeypatch, io.presence.pipeline, "feed"),
            "nonces": fail_once(monkeypatch, io.checkin.nonces, "rotates_at"),
            "health": fail_once(monkeypatch, io.health, "figures"),
            "content": content_fired,
            "sync": fail_once(monkeypatch, Outbox, "next_batch"),
        }
        checkin = {"visitor": "app:42", "nonce": "n" * 16, "consent": ["analytics"], "ts": 1}
        publish(
            broker.port,
            [
                (topics.checkin, json.dumps(checkin).encode()),
                (topics.manifest, b'{"not": "checked before the planted bug"}'),
                (f"{topics.base}/asset/{'0' * 64}", b"bytes"),
            ],
        )
        central.command(topics.base, "reload")
        everything = {**handlers, **tasks}
        assert wait_for(lambda: all(everything.values()), 30), [
            name for name, fired in everything.items() if not fired
        ]
        router, supervisor = io.router, io.supervisor
        assert wait_for(lambda: all(router.handler_errors[n] == 1 for n in handlers), 10), dict(
            router.handler_errors
        )
        assert wait_for(lambda: all(supervisor.restarts[n] == 1 for n in tasks), 10), dict(
            supervisor.restarts
        )
        # The inbox task itself: the message it held is lost (the broker would send it
        # again after a reconnect), the task restarts, the next message is handled.
        inbox = fail_once(monkeypatch, router, "dispatch")
        central.command(topics.base, "reload")
        assert wait_for(lambda: bool(inbox) and supervisor.restarts["inbox"] == 1, 10)
        # Afterwards it still syncs and answers: fresh visits, decisions and impressions
        # reach central, and a command gets its result.
        since = int(time.time() * 1000)
        cmd_id = central.command(topics.base, "set_log_level", {"level": "info"})
        assert wait_for(lambda: cmd_id in central.cmd_results, 15), "no command result"
        assert central.cmd_results[cmd_id]["ok"] is True
        assert wait_for(
            lambda: any(
                e["ts"] >= since and e.get("campaign_id") == CAMPAIGN
                for e in central.events_of("impression")
            ),
            40,
        ), "no personal impression reached central after the failures"
        # Ops see the failures in device.health.
        assert wait_for(
            lambda: any(
                e.get("handler_errors", 0) >= len(handlers)
                and e.get("task_restarts", 0) >= len(tasks) + 1
                for e in central.events_of("device.health")
            ),
            20,
        ), "device.health does not count the failures"
