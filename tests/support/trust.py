"""A fleet made by `omo-ops ca init`: its CA folder, inventory, ACL and CRL where the
documented broker (docs/mosquitto/fleet.conf) reads them, and device certificates.

Tests of renewal, revocation and CA rotation run the real parts: the CA folder of
edge/ops/ca.py, the fleet broker's own config and an ACL made by `fleet_acl`.
"""

from __future__ import annotations

import contextlib
import logging
import threading
from collections.abc import Iterator
from pathlib import Path

from edge.files import write_atomic
from edge.link.tls import TlsFiles
from edge.ops import ca
from edge.ops.broker import Broker
from edge.ops.ca_service import CaService
from edge.ops.fleet_acl import fleet_acl, parse_inventory
from edge.provision import pki
from edge.sim.broker import Mosquitto, free_port
from tests.support.fleet_broker import render_fleet_conf

INVENTORY = "store-1 screen-1\nstore-1 screen-2\nstore-2 screen-9\n"


class TrustFleet:
    """`ca init` output in `folder/ca`; the broker's copies of CRL and ACL next to it."""

    def __init__(self, folder: Path) -> None:
        self.dir = folder
        self.ca = folder / "ca"
        ca.init(self.ca, ["127.0.0.1", "localhost"])
        self.inventory = folder / "devices"
        self.inventory.write_text(INVENTORY)
        self.acl = folder / "omo-fleet.acl"
        self.acl.write_text(fleet_acl(parse_inventory(INVENTORY)))
        self.crl = folder / "fleet.crl"
        ca.copy_crl(self.ca, self.crl)
        self.trust = self.ca / "device-trust.crt"  # the devices' tls_ca

    def device(self, device_id: str, lifetime_s: float = 86400.0) -> tuple[Path, Path]:
        """A certificate (followed by the device CA) and key for `device_id`, as a paired
        device keeps them (0600), valid `lifetime_s` from now."""
        key = pki.new_key()
        device_ca = self.device_ca()
        cert = pki.sign_csr(
            pki.make_csr(key, device_id), device_ca, expected_cn=device_id, days=lifetime_s / 86400
        )
        ca.record_issued(self.ca, device_id, cert)  # as pairing does
        folder = self.dir / device_id
        folder.mkdir(exist_ok=True)
        write_atomic(folder / "device.key", pki.key_pem(key))
        write_atomic(folder / "device.crt", cert + device_ca.cert_pem)
        return folder / "device.crt", folder / "device.key"

    def device_ca(self) -> pki.Issued:
        return pki.Issued(
            (self.ca / "device-ca.crt").read_bytes(), (self.ca / "device-ca.key").read_bytes()
        )

    def identity(self, user: str) -> TlsFiles:
        """A service's TLS files (`omo-central`, `omo-ca`) for the service listener."""
        return TlsFiles(str(self.trust), str(self.ca / f"{user}.crt"), str(self.ca / f"{user}.key"))


class TrustBroker(Mosquitto):
    """docs/mosquitto/fleet.conf with the fleet's files, on free loopback ports."""

    def __init__(self, fleet: TrustFleet, workdir: Path) -> None:
        port, self.central_port = free_port(), free_port()
        workdir.mkdir(parents=True, exist_ok=True)
        conf = render_fleet_conf(
            port=port,
            central_port=self.central_port,
            workdir=workdir,
            files={
                "/etc/mosquitto/certs/fleet-ca.crt": fleet.ca / "fleet-ca.crt",
                "/etc/mosquitto/certs/broker.crt": fleet.ca / "broker.crt",
                "/etc/mosquitto/certs/broker.key": fleet.ca / "broker.key",
                "/etc/mosquitto/certs/fleet.crl": fleet.crl,
                "/etc/mosquitto/certs/service-ca.crt": fleet.ca / "service-ca.crt",
                "/etc/mosquitto/omo-fleet.acl": fleet.acl,
            },
        )
        super().__init__(port=port, workdir=workdir, conf=conf, other_ports=(self.central_port,))
        self.pid_file = workdir / "mosquitto.pid"

    def start(self, timeout_s: float = 10.0) -> None:
        super().start(timeout_s)
        self.pid_file.write_text(f"{self.pid}\n")  # where `ca revoke` looks for it


@contextlib.contextmanager
def ca_serving(fleet: TrustFleet, broker: TrustBroker, **kw: object) -> Iterator[CaService]:
    """`omo-ops ca serve` on a thread, as user omo-ca on the service listener."""
    service = CaService(
        fleet.ca,
        Broker("127.0.0.1", broker.central_port, fleet.identity("omo-ca")),
        inventory=lambda: parse_inventory(fleet.inventory.read_text()),
        crl_out=fleet.crl,
        pid_file=broker.pid_file,
        say=logging.getLogger("omo-ops.ca-serve").info,  # what `ca serve` prints, as log lines
        **kw,  # type: ignore[arg-type]
    )
    stop = threading.Event()
    errors: list[BaseException] = []

    def serve() -> None:
        try:
            service.serve(stop)
        except BaseException as exc:
            errors.append(exc)
            service.ready.set()

    thread = threading.Thread(target=serve, name="ca-serve")
    thread.start()
    try:
        assert service.ready.wait(15) and not errors, f"ca serve did not start: {errors}"
        yield service
    finally:
        stop.set()
        thread.join(15)
