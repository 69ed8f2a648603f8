"""`omo-ops purge VISITOR`: gone from the ingest database, `purge_visitor` sent to every device of
the stores where they were seen (and only those), and a later resend cannot bring them back."""

from __future__ import annotations

import json
import threading
from pathlib import Path

from edge.link.schemas import CmdResult, encode
from edge.ops.broker import Broker, Connection
from edge.ops.cli import main
from edge.ops.ingest.worker import IngestWorker
from edge.sim.broker import Mosquitto
from tests.support.ingest import device_loop, stored_ids
from tests.support.wait import wait_for


class Screens:
    """Answers every device's `P/cmd` as a device would (ok), noting who was told what."""

    def __init__(self, broker: Broker) -> None:
        self.told: dict[str, str] = {}
        self._conn = Connection(broker, ["omo/v1/+/+/cmd"], "screens").__enter__()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._serve, daemon=True)
        self._thread.start()

    def _serve(self) -> None:
        while not self._stop.is_set():
            message = self._conn.get(0.1)
            if message is None:
                continue
            base = message.topic.removesuffix("/cmd")
            cmd = json.loads(message.payload)
            self.told[base.split("/", 2)[2]] = cmd["args"]["visitor"]
            result = CmdResult(cmd_id=cmd["cmd_id"], ok=True, detail="purged 2 events")
            self._conn.send(f"{base}/cmd/result", encode(result))

    def close(self) -> None:
        self._stop.set()
        self._thread.join(5)
        self._conn.__exit__(None, None, None)


def test_purge_erases_a_visitor_everywhere_they_were_seen(
    broker: Mosquitto, tmp_path: Path
) -> None:
    url = f"sqlite:///{tmp_path}/central.sqlite3"
    ops = Broker("127.0.0.1", broker.port, None)
    worker = IngestWorker(ops, url).start()
    screens = Screens(ops)
    try:
        with device_loop() as fleet:
            # store-0: screen-000, screen-002; store-1: screen-001, screen-003
            devices = fleet.start(4, broker.port, tmp_path / "devices", stores=2)
            fleet.call(devices[0].visit("member-7"))
            fleet.call(devices[1].visit("member-8"))
            assert wait_for(lambda: len(stored_ids(url)) == 6, 20)  # enter, dwell, exit each

            code = main(
                [
                    "purge",
                    "member-7",
                    "--broker",
                    f"mqtt://127.0.0.1:{broker.port}",
                    "--db",
                    url,
                    "--timeout",
                    "10",
                ]
            )

            assert code == 0
            assert screens.told == {
                "store-0/screen-000": "member-7",
                "store-0/screen-002": "member-7",
            }
            assert len(stored_ids(url)) == 3  # member-8's visit stays
            # The device sends an event about them after the purge: the ingest drops it.
            fleet.call(devices[2].visit("member-7"))
            assert wait_for(lambda: worker.figures.erased == 3, 20)
    finally:
        screens.close()
        worker.stop()
    assert len(stored_ids(url)) == 3
