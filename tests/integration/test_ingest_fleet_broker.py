"""The ingest on the documented fleet broker: mutual TLS, the central service's own listener and
certificate, the ACL from `omo-ops fleet acl` (a shared subscription is allowed by it)."""

from __future__ import annotations

import dataclasses
from pathlib import Path

from edge.link.session import BrokerSettings
from edge.link.tls import TlsFiles
from edge.ops.broker import Broker
from edge.ops.ingest.worker import IngestWorker
from tests.support.fleet_broker import FleetBroker
from tests.support.ingest import device_loop, stored_ids
from tests.support.pki import FleetPkiFull
from tests.support.wait import wait_for


def test_the_ingest_stores_a_tls_device_batches_through_the_fleet_acl(
    fleet_broker: FleetBroker, fleet_pki_full: FleetPkiFull, tmp_path: Path
) -> None:
    pki = fleet_pki_full
    central = TlsFiles(str(pki.ca_cert), str(pki.central_cert), str(pki.central_key))
    url = f"sqlite:///{tmp_path}/central.sqlite3"
    worker = IngestWorker(Broker("127.0.0.1", fleet_broker.central_port, central), url).start()
    try:
        with device_loop() as fleet:
            cert, key = pki.client("screen-1")
            device = BrokerSettings(
                "127.0.0.1", fleet_broker.port, tls_ca=str(pki.ca_cert), tls_cert=str(cert),
                tls_key=str(key),
            )  # fmt: skip
            fleet.start_one("store-1", "screen-1", device, tmp_path / "devices", backlog=300)
            assert wait_for(lambda: fleet.pending() == 0, 30), fleet.pending()
            committed = fleet.committed()
    finally:
        worker.stop()
    assert sorted(stored_ids(url)) == sorted(committed)
    assert dataclasses.asdict(worker.figures)["rejected"] == 0
