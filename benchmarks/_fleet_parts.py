"""Parts of benchmarks/fleet.py: the brokers (plain with the fleet ACL, or the documented
mutual-TLS fleet broker), ingest workers in their own processes, a decide-only responder."""

from __future__ import annotations

import multiprocessing
import os
import time
from dataclasses import asdict
from pathlib import Path
from typing import Any

import psutil

from edge.link.session import BrokerSettings
from edge.link.tls import TlsFiles
from edge.ops.broker import Broker
from edge.ops.fleet_acl import Device, central_rules, fleet_acl
from edge.sim.broker import Mosquitto
from edge.sim.central import CentralSim


class FleetBrokerSetup:
    """A Mosquitto with the fleet ACL for `identities`; TLS on: docs/mosquitto/fleet.conf."""

    def __init__(self, workdir: Path, identities: list[tuple[str, str]], tls: bool) -> None:
        workdir.mkdir(parents=True, exist_ok=True)
        devices = [Device(s, d) for s, d in identities]
        self.tls = tls
        self.certs_dir: Path | None = None
        if tls:
            from tests.support.fleet_broker import FleetBroker
            from tests.support.pki import FleetPkiFull

            acl = workdir / "omo-fleet.acl"
            acl.write_text(fleet_acl(devices))  # what `omo-ops fleet acl` writes
            self.pki = FleetPkiFull(workdir / "pki")
            for _store, device in identities:
                self.pki.client(device)
            self.certs_dir = self.pki.dir
            self.mosquitto: Mosquitto = FleetBroker(self.pki, workdir / "broker", acl=acl)
            self.central_port = self.mosquitto.central_port  # type: ignore[attr-defined]
            self.central_tls: TlsFiles | None = TlsFiles(
                str(self.pki.ca_cert), str(self.pki.central_cert), str(self.pki.central_key)
            )
            self.device_broker = BrokerSettings(
                "127.0.0.1", self.mosquitto.port, tls_ca=str(self.pki.ca_cert)
            )
        else:
            # Plain MQTT on loopback: devices log in by user name (= device id) and get their
            # ACL rules; the central tools connect without one and get the central rules.
            acl = workdir / "omo-fleet.acl"
            anonymous = "\n".join(central_rules("omo/v1")[1:])
            acl.write_text(anonymous + "\n\n" + fleet_acl(devices))
            self.mosquitto = Mosquitto(
                workdir=workdir / "broker",
                listener=["allow_anonymous true", f"acl_file {acl}", "max_connections -1"],
            )
            self.central_port = self.mosquitto.port
            self.central_tls = None
            self.device_broker = BrokerSettings("127.0.0.1", self.mosquitto.port)

    @property
    def ops_broker(self) -> Broker:
        return Broker("127.0.0.1", self.central_port, self.central_tls)

    def cpu_s(self) -> float:
        """CPU seconds the broker has used (user + system)."""
        proc = self.mosquitto._proc
        if proc is None:
            return 0.0
        times = psutil.Process(proc.pid).cpu_times()
        return float(times.user + times.system)

    def rss_bytes(self) -> int:
        proc = self.mosquitto._proc
        return int(psutil.Process(proc.pid).memory_info().rss) if proc else 0


def _ingest_main(broker: Broker, url: str, stop: Any, out: Any, number: int) -> None:
    import threading

    from edge.ops.ingest.worker import IngestWorker

    worker = IngestWorker(broker, url, name=f"bench-ingest-{number}-{os.getpid()}")
    worker.start()  # returns once subscribed
    out.put({"ready": 1})
    threading.Thread(target=lambda: (stop.wait(), worker.stop()), daemon=True).start()
    while worker.alive:
        time.sleep(0.2)
    out.put(asdict(worker.figures))


class IngestPool:
    """`workers` ingest processes on one database; `close()` returns their summed figures."""

    def __init__(self, broker: Broker, url: str, workers: int) -> None:
        context = multiprocessing.get_context("spawn")
        self._stop = context.Event()
        self._out = context.Queue()
        self._procs = [
            context.Process(target=_ingest_main, args=(broker, url, self._stop, self._out, n))
            for n in range(workers)
        ]
        for proc in self._procs:
            proc.start()
        for _ in self._procs:  # subscribed before any device sends (else a 10 s resend)
            self._out.get(timeout=60)

    def close(self) -> dict[str, int]:
        self._stop.set()
        total: dict[str, int] = {}
        for _ in self._procs:
            for key, value in self._out.get(timeout=60).items():
                total[key] = total.get(key, 0) + value
        for proc in self._procs:
            proc.join(30)
        return total


class DecideOnly(CentralSim):
    """central-sim answering decide requests only (the ingest is the only one that acks)."""

    def _on_connect(self, client: Any, *_a: Any) -> None:
        self._connected.set()  # events, state and assets are not its job: no subscription
