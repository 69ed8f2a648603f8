"""Test fleets' certificate authorities and certificates, as files."""

from __future__ import annotations

from pathlib import Path


class FleetPki:
    """A test fleet's CA and a broker certificate for 127.0.0.1, as files."""

    def __init__(self, folder: Path) -> None:
        from edge.provision import pki

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
        from edge.provision import pki

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
