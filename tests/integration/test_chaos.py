"""Not one accepted event lost: SIGKILL the daemon again and again, stop the broker, and
check central ends up with every event that was ever committed to the outbox."""

from __future__ import annotations

import random
import threading
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from edge.ids import new_id
from edge.outbox.store import Outbox
from edge.sim.broker import Mosquitto
from edge.sim.central import CentralSim
from tests.support.daemon import DaemonProcess
from tests.support.wait import wait_for

pytestmark = [pytest.mark.slow, pytest.mark.timeout(150)]

TARGET = 12_000
KILLS = 12


class Generator(threading.Thread):
    """Commits events to the outbox file like any producer would; records what committed."""

    def __init__(self, path: Path) -> None:
        super().__init__(daemon=True)
        self.path = path
        self.committed: dict[str, dict[str, object]] = {}
        self.stop = threading.Event()

    def run(self) -> None:
        rng = random.Random(1)
        with Outbox(self.path) as outbox:
            while len(self.committed) < TARGET and not self.stop.is_set():
                chunk: list[dict[str, object]] = [
                    {
                        "id": new_id(),
                        "type": "checkin",
                        "ts": int(time.time() * 1000),
                        "clock_synced": False,
                        "visitor": f"member-{rng.randrange(10**6)}",
                        "visit_id": new_id(),
                        "nonce": new_id(),
                        "via": "lan",
                    }
                    for _ in range(rng.randint(20, 120))
                ]
                outbox.append(chunk)  # returns once committed: from here on it must arrive
                self.committed.update((str(e["id"]), e) for e in chunk)
                time.sleep(rng.uniform(0.0, 0.08))


def test_sigkill_and_broker_outages_lose_no_committed_event(
    tmp_path: Path,
    broker: Mosquitto,
    central: CentralSim,
    device_config: Callable[..., Path],
    daemon: Callable[..., DaemonProcess],
) -> None:
    config = device_config(
        speed=50.0,
        sync={"ack_timeout_s": 0.5, "batch_max_events": 500, "batch_max_bytes": 200_000},
        display={"screenshot_dir": ""},
    )
    generator = Generator(tmp_path / "state" / "outbox.sqlite3")
    Outbox(generator.path).close()  # create it before the daemon and the generator race
    generator.start()
    rng = random.Random(7)
    kills = 0
    try:
        for round_ in range(KILLS):
            proc = daemon("run", "--config", str(config))
            time.sleep(rng.uniform(0.4, 2.0))
            if round_ % 6 == 3:
                broker.stop()
                time.sleep(rng.uniform(0.2, 1.0))
                broker.start()
            proc.proc.kill()  # SIGKILL: no flush, no goodbye
            proc.wait(10)
            kills += 1
        generator.join(60)
        assert not generator.is_alive(), "the generator could not commit its events"
        final = daemon("run", "--config", str(config))
        arrived = lambda: generator.committed.keys() <= central.events.keys()  # noqa: E731
        assert wait_for(arrived, 60), (
            f"{len(generator.committed.keys() - central.events.keys())} committed events "
            "never reached central"
        )
        final.stop()
    finally:
        generator.stop.set()
    assert kills >= KILLS and len(generator.committed) >= TARGET
    for event_id, event in generator.committed.items():
        assert central.events[event_id] == event, "an event arrived changed"
