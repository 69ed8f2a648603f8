"""Test fleets' certificate authorities and certificates, as files."""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Any

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from edge.provision import pki


class FleetPki:
    """A test fleet's CA and a broker certificate for 127.0.0.1, as files."""

    def __init__(self, folder: Path) -> None:
        folder.mkdir(parents=True, exist_ok=True)
        self.dir = folder
        self.ca = pki.new_ca("omo test fleet CA")
        server = pki.server_cert(self.ca, ["127.0.0.1", "localhost"])
        self.ca_cert = self._write("ca.crt", self.ca.cert_pem)
        self.ca_key = self._write("ca.key", self.ca.key_pem)
        self.server_cert = self._write("server.crt", server.cert_pem)
        self.server_key = self._write("server.key", server.key_pem)

    def _write(self, name: str, data: bytes) -> Path:
        path = self.dir / name
        path.write_bytes(data)
        path.chmod(0o600)
        return path

    def client(self, device_id: str, days: float = 30) -> tuple[Path, Path]:
        """A client certificate and key (CN = `device_id`), as files."""
        key = pki.new_key()
        cert = pki.sign_csr(pki.make_csr(key, device_id), self.ca, expected_cn=device_id, days=days)
        key_file = self._write(f"{device_id}.key", pki.key_pem(key))
        return self._write(f"{device_id}.crt", cert), key_file


class FleetPkiFull(FleetPki):
    """The fleet CA plus a CRL, and a separate CA for the central service's certificate."""

    def __init__(self, folder: Path) -> None:
        from edge.provision import crl, pki

        super().__init__(folder)
        self.service_ca = pki.new_ca("omo test service CA")
        self.service_ca_cert = self._write("service-ca.crt", self.service_ca.cert_pem)
        key = pki.new_key()
        cert = pki.sign_csr(
            pki.make_csr(key, "omo-central"), self.service_ca, expected_cn="omo-central"
        )
        self.central_cert = self._write("omo-central.crt", cert)
        self.central_key = self._write("omo-central.key", pki.key_pem(key))
        self.revoked: set[int] = set()
        self.crl = self._write("fleet.crl", crl.revocation_list(self.ca))

    def revoke(self, cert: Path) -> None:
        """List `cert` in the CRL (the broker reads it when it starts)."""
        self.revoke_pem(cert.read_bytes())

    def revoke_pem(self, cert_pem: bytes) -> None:
        from edge.provision import crl

        self.revoked.add(crl.serial(cert_pem))
        self._write("fleet.crl", crl.revocation_list(self.ca, self.revoked))


def leaf_cert(
    issuer: pki.Issued, public_key: Any, cn: str, *, server: bool = False, days: float = 1
) -> bytes:
    """A PEM certificate for `public_key` named `cn`, from any CA, for clientAuth (or
    serverAuth): one the fleet's own CAs would never make, for tests that need it."""
    ca_cert, ca_key = pki.load_cert(issuer.cert_pem), pki.load_key(issuer.key_pem)
    now = dt.datetime.now(dt.UTC)
    usage = ExtendedKeyUsageOID.SERVER_AUTH if server else ExtendedKeyUsageOID.CLIENT_AUTH
    cert = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, cn)]))
        .issuer_name(ca_cert.subject)
        .public_key(public_key)
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=1))
        .not_valid_after(now + dt.timedelta(days=days))
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(x509.ExtendedKeyUsage([usage]), critical=False)
        .sign(ca_key, hashes.SHA256())
    )
    return cert.public_bytes(serialization.Encoding.PEM)
