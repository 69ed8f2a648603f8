"""The fleet broker of `omo-ops ca init` and `omo-ops fleet acl` guards the trust topics:
only the CA service answers on `P/cert`, only central writes `P/config` and `S/config`,
and the device listener takes device certificates from the device intermediate alone.

Every "refused" is next to a positive control over the same path."""

from __future__ import annotations

from pathlib import Path

import pytest

from edge.files import write_atomic
from edge.link.tls import TlsFiles, client_context
from edge.provision import pki
from tests.support.mqtt_probe import Probe
from tests.support.pki import leaf_cert
from tests.support.trust import TrustBroker, TrustFleet

pytestmark = [pytest.mark.timeout(60)]

NOT_AUTHORIZED = 135
P1 = "omo/v1/store-1/screen-1"
S1 = "omo/v1/store-1/_store"


def test_only_the_ca_service_answers_renewals_and_only_central_writes_config(
    tmp_path: Path,
) -> None:
    fleet = TrustFleet(tmp_path / "fleet")
    cert, key = fleet.device("screen-1")
    with TrustBroker(fleet, tmp_path / "broker") as broker:
        device = Probe(
            broker.port, client_context(TlsFiles(str(fleet.trust), str(cert), str(key))), "screen-1"
        )
        central = Probe(
            broker.central_port, client_context(fleet.identity("omo-central")), "central"
        )
        ca_service = Probe(broker.central_port, client_context(fleet.identity("omo-ca")), "ca")
        try:
            for probe in (device, central, ca_service):
                assert probe.connect() == "connected"
            device.subscribe(f"{P1}/cert", f"{P1}/config", f"{S1}/config")
            # A device cannot answer its own renewal nor sign itself settings...
            for topic in (f"{P1}/cert", f"{P1}/config", f"{S1}/config"):
                assert device.publish(topic, b"forged by screen-1").value == NOT_AUTHORIZED
            # ...central does not issue certificates, the CA service does not push config.
            assert central.publish(f"{P1}/cert", b"from central").value == NOT_AUTHORIZED
            assert ca_service.publish(f"{P1}/config", b"from ca").value == NOT_AUTHORIZED
            # The rightful writers get through, and the device reads all three.
            assert ca_service.publish(f"{P1}/cert", b"certificate").value == 0
            assert central.publish(f"{P1}/config", b"device overlay").value == 0
            assert central.publish(f"{S1}/config", b"store overlay").value == 0
            device.wait_message(f"{P1}/cert", b"certificate")
            device.wait_message(f"{P1}/config", b"device overlay")
            device.wait_message(f"{S1}/config", b"store overlay")
            assert not {b"forged by screen-1", b"from central", b"from ca"} & set(device.payloads())
            # The device's own request reaches the CA service.
            ca_service.subscribe("omo/v1/+/+/csr")
            assert device.publish(f"{P1}/csr", b"request").value == 0
            ca_service.wait_message(f"{P1}/csr", b"request")
        finally:
            for probe in (device, central, ca_service):
                probe.close()


@pytest.mark.parametrize("issuer", ["device-ca", "server-ca", "service-ca"])
def test_the_broker_takes_device_certificates_only_from_the_device_intermediate(
    tmp_path: Path, issuer: str
) -> None:
    """The server intermediate chains to the same root but may not issue client
    certificates; the service CA is for the service listener only."""
    fleet = TrustFleet(tmp_path / "fleet")
    ca_files = pki.Issued(
        (fleet.ca / f"{issuer}.crt").read_bytes(), (fleet.ca / f"{issuer}.key").read_bytes()
    )
    key = pki.new_key()
    cert = tmp_path / "screen-1.crt"
    write_atomic(cert, leaf_cert(ca_files, key.public_key(), "screen-1") + ca_files.cert_pem, 0o644)
    write_atomic(tmp_path / "screen-1.key", pki.key_pem(key))
    files = TlsFiles(str(fleet.trust), str(cert), str(tmp_path / "screen-1.key"))
    with TrustBroker(fleet, tmp_path / "broker") as broker:
        probe = Probe(broker.port, client_context(files), "screen-1")
        try:
            result = probe.connect()
        finally:
            probe.close()
    if issuer == "device-ca":
        assert result == "connected"
    else:
        assert result.startswith(("failed", "disc")), f"{issuer}: {result}"
        assert "certificate verify failed" in broker.log_path.read_text()  # at the handshake
