"""The writes that wear an SD card, on the whole device (real Mosquitto, real SQLite): the
daemon's own events share commits (`[storage] hold_s`) and a quiet store sends them in few
batches (`[sync] linger_s`); nothing waits for that on the way out. (How many bytes that
saves is measured in benchmarks/wear.py, not here.)"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from edge.sim.central import CentralSim
from tests.support.device import running_device
from tests.support.wait import wait_for

pytestmark = [pytest.mark.timeout(60)]


def test_held_and_lingering_events_go_in_few_batches_and_all_arrive_at_shutdown(
    central: CentralSim, device_config: Callable[..., Path]
) -> None:
    config = device_config(
        speed=20.0,
        # the first commit comes well after the link is up: events committed before it
        # are a backlog, which goes at once (as after an outage)
        storage={"hold_s": 3.0},
        sync={"linger_s": 600.0},  # longer than the test: nothing goes before the stop
        health={"interval_s": 1},
    )
    with running_device(config) as device:
        writer = device.io.outbox.writer
        recorded = lambda: writer.committed >= 10 and device.stats.impressions >= 1  # noqa: E731
        assert wait_for(recorded, 30)
        assert central.events == {}  # committed, waiting for the linger to end
        committed = writer.committed
    # stopping drains: what was held is committed and sent at once, not after 600 s
    assert len(central.events) >= committed
    assert len(central.batches) <= 2  # a couple of hundred events: one or two batches
    types = {e["type"] for e in central.events.values()}
    assert "device.health" in types and "impression" in types


def test_a_lingered_batch_goes_with_the_next_commit(
    central: CentralSim, device_config: Callable[..., Path]
) -> None:
    """Once the linger is over the batch waits for the writer's next commit, so marking it
    and its ack reach the card with that commit: a batch every other commit here, not one
    after each."""
    config = device_config(
        speed=20.0,
        storage={"hold_s": 1.0},
        sync={"linger_s": 0.4},  # shorter than hold_s: without waiting, a batch per commit
        health={"interval_s": 1},
    )
    with running_device(config) as device:
        writer = device.io.outbox.writer
        assert wait_for(lambda: writer.commits >= 6, 30)
        commits, batches = writer.commits, len(central.batches)
        assert wait_for(lambda: len(central.events) >= writer.committed - 50, 10)
    assert 2 <= batches <= commits // 2 + 1
    assert len(central.events) >= commits  # nothing waits at shutdown
