"""The writes that wear an SD card, on the whole device (real Mosquitto, real SQLite): the
daemon's own events share commits (`[storage] hold_s`), each commit's events go to
central as batches at once, and sending them and their acks cost no transaction of their
own; nothing waits on the way out. (How many bytes that saves is measured in
benchmarks/wear.py, not here.)"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from edge.outbox.store import Outbox
from edge.sim.central import CentralSim
from tests.support.device import on_loop, running_device
from tests.support.wait import wait_for

pytestmark = [pytest.mark.timeout(60)]


def test_held_events_share_a_commit_and_all_arrive_at_shutdown(
    central: CentralSim, device_config: Callable[..., Path]
) -> None:
    config = device_config(speed=20.0, storage={"hold_s": 300.0}, health={"interval_s": 1})
    with running_device(config) as device:
        writer = device.io.outbox.writer
        assert wait_for(lambda: writer.held >= 10 and device.stats.impressions >= 1, 30)
        assert writer.commits == 0 and central.events == {}  # held, not committed yet
        held = writer.held
    # stopping drains: what was held is committed and sent at once, not after 300 s
    assert len(central.events) >= held
    assert len(central.batches) == 1  # one commit of a few dozen events: one batch
    types = {e["type"] for e in central.events.values()}
    assert "device.health" in types and "impression" in types


def test_batches_and_acks_ride_on_the_commits(
    central: CentralSim, device_config: Callable[..., Path]
) -> None:
    """Each commit's events go at once, and every batch is acknowledged; yet the outbox's
    file sees one transaction per commit: the acks are written with the next one."""
    config = device_config(speed=20.0, storage={"hold_s": 0.5}, health={"interval_s": 1})
    statements: list[str] = []
    with running_device(config) as device:
        writer = device.io.outbox.writer
        outbox = device.io.outbox.outbox

        def trace(box: Outbox) -> None:
            box.db.conn.set_trace_callback(statements.append)

        assert wait_for(lambda: writer.commits >= 1, 30)
        on_loop(device, outbox.run(trace))
        syncer = device.io.outbox.syncer
        assert syncer is not None
        commits, batches, synced = writer.commits, len(central.batches), syncer.synced
        assert wait_for(lambda: writer.commits >= commits + 6, 30)
        assert wait_for(lambda: len(central.batches) >= batches + 6, 10)  # each commit sent
        assert wait_for(lambda: syncer.synced >= synced + 6, 10)  # ... and acknowledged
        on_loop(device, outbox.run(lambda box: box.db.conn.set_trace_callback(None)))
        transactions = statements.count("BEGIN IMMEDIATE")
        made = writer.commits - commits
    assert made <= transactions <= made + 1  # a commit may have begun before the trace
    assert len(central.events) >= writer.committed  # nothing waits at shutdown
