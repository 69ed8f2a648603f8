"""`omo-ops ingest` with a real Mosquitto, real SQLite and PostgreSQL, and simulated screens
running the device's own outbox, sync and link: every committed event is stored exactly
once, whatever dies in between."""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from edge.ops.broker import Broker, Connection
from edge.ops.ingest.batches import Batch
from edge.ops.ingest.worker import IngestWorker
from edge.sim.broker import Mosquitto
from tests.support.ingest import device_loop, stored_ids
from tests.support.wait import wait_for


def plain(broker: Mosquitto) -> Broker:
    return Broker("127.0.0.1", broker.port, None)


def test_two_workers_split_a_burst_from_50_devices_and_store_every_event_once(
    broker: Mosquitto, tmp_path: Path
) -> None:
    # SQLite here; PostgreSQL's path (COPY, then INSERT ... ON CONFLICT) is the one the
    # database-down test below stores through.
    db_url = f"sqlite:///{tmp_path}/central.sqlite3"
    workers = [IngestWorker(plain(broker), db_url, name=f"ingest-{n}").start() for n in range(2)]
    try:
        with device_loop() as fleet:
            fleet.start(50, broker.port, tmp_path / "devices", backlog=250)  # 2 batches each
            assert wait_for(lambda: fleet.pending() == 0, 60), fleet.pending()
            committed = fleet.committed()
    finally:
        for worker in workers:
            worker.stop()
    stored = stored_ids(db_url)
    assert len(committed) == 50 * 250
    assert Counter(stored).most_common(1)[0][1] == 1  # no event twice
    assert set(stored) == committed  # none lost
    # The broker handed batches to both members of the shared subscription.
    assert all(w.figures.batches > 10 for w in workers), [w.figures for w in workers]
    assert sum(w.figures.events for w in workers) == len(committed)


def test_a_payload_that_is_not_a_batch_is_refused_counted_and_the_worker_goes_on(
    broker: Mosquitto, tmp_path: Path
) -> None:
    url = f"sqlite:///{tmp_path}/central.sqlite3"
    worker = IngestWorker(plain(broker), url).start()
    try:
        with Connection(plain(broker), [], "garbage") as conn:
            conn.publish("omo/v1/store-1/screen-9/events", b'{"batch_id": "b", "events": 7}')
        assert wait_for(lambda: worker.figures.rejected == 1, 10)
        with device_loop() as fleet:
            fleet.start(1, broker.port, tmp_path / "devices", backlog=10)
            assert wait_for(lambda: fleet.pending() == 0, 20)
    finally:
        worker.stop()
    assert len(stored_ids(url)) == 10


def test_a_resend_of_a_batch_the_worker_stored_is_acked_again_without_storing_it(
    broker: Mosquitto, tmp_path: Path
) -> None:
    url = f"sqlite:///{tmp_path}/central.sqlite3"
    worker = IngestWorker(plain(broker), url).start()
    batch = {
        "batch_id": "b-1",
        "events": [{"id": "e-1", "type": "visit.enter", "ts": 1798765200000, "visitor": None}],
    }
    try:
        ack = "omo/v1/store-1/screen-1/events/ack"
        with Connection(plain(broker), [ack], "a-device") as conn:
            for _ in range(2):  # the first ack "lost": the device sends the batch again
                conn.publish("omo/v1/store-1/screen-1/events", json.dumps(batch).encode())
                assert conn.get(10) is not None  # acked each time
    finally:
        worker.stop()
    assert (worker.figures.events, worker.figures.reacked, worker.figures.duplicates) == (1, 1, 0)
    assert stored_ids(url) == ["e-1"]


class Crash(Exception):
    """The worker dies after its commit, before any ack."""


def test_a_worker_killed_between_commit_and_ack_costs_a_resend_stored_once(
    broker: Mosquitto, tmp_path: Path
) -> None:
    url = f"sqlite:///{tmp_path}/central.sqlite3"

    def die(_batches: Sequence[Batch]) -> None:
        raise Crash

    doomed = IngestWorker(plain(broker), url, name="doomed", after_commit=die).start()
    with device_loop() as fleet:
        fleet.start(1, broker.port, tmp_path / "devices", backlog=120)
        assert wait_for(lambda: not doomed.alive, 10)
        assert doomed.figures.events == 120  # committed, never acked
        assert fleet.pending() == 120
        survivor = IngestWorker(plain(broker), url, name="survivor").start()
        try:
            assert wait_for(lambda: fleet.pending() == 0, 30)
        finally:
            survivor.stop()
        committed = fleet.committed()
    assert survivor.figures.duplicates == 120  # the resend, absorbed
    assert survivor.figures.events == 0
    stored = stored_ids(url)
    assert sorted(stored) == sorted(committed)


def test_a_database_that_refuses_writes_gets_no_acks_and_everything_arrives_later(
    broker: Mosquitto, postgres: Any, tmp_path: Path
) -> None:
    worker = IngestWorker(plain(broker), postgres.url).start()
    try:
        postgres.stop()
        with device_loop() as fleet:
            fleet.start(5, broker.port, tmp_path / "devices", backlog=100)
            assert wait_for(lambda: worker.figures.db_errors >= 2, 30)
            assert fleet.pending() == 500  # nothing acked while the database is down
            assert worker.figures.events == 0
            postgres.start()
            assert wait_for(lambda: fleet.pending() == 0, 60), fleet.pending()
            committed = fleet.committed()
    finally:
        worker.stop()
    assert sorted(stored_ids(postgres.url)) == sorted(committed)
