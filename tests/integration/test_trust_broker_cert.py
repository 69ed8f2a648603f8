"""Devices accept a broker certificate only for a TLS server (EKU serverAuth) through the
server intermediate: what the online signer (device CA) could mint is refused on a real
TLS handshake with Mosquitto, and so is a leaf that names no usage at all."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.x509.oid import NameOID

from edge.link.tls import TlsFiles, client_context
from edge.ops import ca
from edge.provision import pki
from edge.sim.broker import Mosquitto, tls_listener
from tests.support.mqtt_probe import Probe


def _issued(folder: Path, name: str) -> pki.Issued:
    return pki.Issued((folder / f"{name}.crt").read_bytes(), (folder / f"{name}.key").read_bytes())


def _no_eku_leaf(issuer: pki.Issued) -> tuple[bytes, bytes]:
    """A certificate for 127.0.0.1 with no extended key usage (OpenSSL takes it as any)."""
    import ipaddress

    key = pki.new_key()
    ca_cert, ca_key = pki.load_cert(issuer.cert_pem), pki.load_key(issuer.key_pem)
    now = dt.datetime.now(dt.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")]))
        .issuer_name(ca_cert.subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=1))
        .not_valid_after(now + dt.timedelta(days=1))
        .add_extension(
            x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]),
            critical=False,
        )
        .sign(ca_key, hashes.SHA256())
    )
    return cert.public_bytes(serialization.Encoding.PEM), pki.key_pem(key)


@pytest.mark.parametrize("broker_cert", ["genuine", "minted_by_device_ca", "no_eku"])
def test_a_device_takes_only_a_server_certificate_for_its_broker(
    tmp_path: Path, broker_cert: str
) -> None:
    folder = tmp_path / "ca"
    ca.init(folder, ["127.0.0.1"])
    device_ca, server_ca = _issued(folder, "device-ca"), _issued(folder, "server-ca")
    if broker_cert == "genuine":
        cert_pem, key_pem = (
            (folder / "broker.crt").read_bytes(),
            (folder / "broker.key").read_bytes(),
        )
    elif broker_cert == "minted_by_device_ca":
        forged = pki.server_cert(device_ca, ["127.0.0.1"])
        cert_pem, key_pem = forged.cert_pem + device_ca.cert_pem, forged.key_pem
    else:
        leaf, key_pem = _no_eku_leaf(server_ca)
        cert_pem = leaf + server_ca.cert_pem
    (tmp_path / "b.crt").write_bytes(cert_pem)
    (tmp_path / "b.key").write_bytes(key_pem)
    (tmp_path / "b.key").chmod(0o600)
    device_key = pki.new_key()
    device_cert = pki.sign_csr(
        pki.make_csr(device_key, "screen-1"), device_ca, expected_cn="screen-1"
    )
    (tmp_path / "d.crt").write_bytes(device_cert + device_ca.cert_pem)
    (tmp_path / "d.key").write_bytes(pki.key_pem(device_key))
    listener = tls_listener(folder / "fleet-ca.crt", tmp_path / "b.crt", tmp_path / "b.key")
    with Mosquitto(workdir=tmp_path / "broker", listener=listener) as broker:
        files = TlsFiles(
            str(folder / "device-trust.crt"), str(tmp_path / "d.crt"), str(tmp_path / "d.key")
        )
        result = Probe(broker.port, client_context(files), "screen-1").connect()
    if broker_cert == "genuine":
        assert result == "connected"
    else:
        assert result.startswith("failed") and "certificate" in result.lower(), result
