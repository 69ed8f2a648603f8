"""X.509 for devices: a key that never leaves the device, its CSR, and a small local CA.

ECDSA P-256 throughout: every TLS stack and MQTT broker speaks it, and a Pi
signs with it in well under a millisecond. The certificate's CN is the
device id (docs/protocol.md: one id everywhere); Mosquitto's
`use_identity_as_username` turns it into the ACL user name.
"""

from __future__ import annotations

import datetime as dt
import ipaddress
from dataclasses import dataclass

from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from edge.errors import EdgeError

PrivateKey = ec.EllipticCurvePrivateKey


class PkiError(EdgeError):
    """A key, request or certificate that cannot be used; the message says why."""


@dataclass(frozen=True, slots=True)
class Issued:
    cert_pem: bytes
    key_pem: bytes


def new_key() -> PrivateKey:
    return ec.generate_private_key(ec.SECP256R1())


def key_pem(key: PrivateKey) -> bytes:
    return key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )


def load_key(pem: bytes) -> PrivateKey:
    try:
        key = serialization.load_pem_private_key(pem, password=None)
    except (ValueError, TypeError) as exc:
        raise PkiError(f"not a readable unencrypted PEM private key: {exc}") from exc
    if not isinstance(key, ec.EllipticCurvePrivateKey):
        raise PkiError("the private key is not an EC key")
    return key


def make_csr(key: PrivateKey, device_id: str) -> bytes:
    """A certificate signing request, CN = `device_id`, signed by the device's own key."""
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, device_id)])
    csr = x509.CertificateSigningRequestBuilder().subject_name(name).sign(key, hashes.SHA256())
    return csr.public_bytes(serialization.Encoding.PEM)


def load_csr(pem: bytes) -> x509.CertificateSigningRequest:
    """Parse a CSR and check it is signed by the key it names (proof of possession)."""
    try:
        csr = x509.load_pem_x509_csr(pem)
    except ValueError as exc:
        raise PkiError(f"not a PEM certificate signing request: {exc}") from exc
    if not csr.is_signature_valid:
        raise PkiError("the certificate signing request's signature does not verify")
    return csr


def load_cert(pem: bytes) -> x509.Certificate:
    try:
        return x509.load_pem_x509_certificate(pem)
    except ValueError as exc:
        raise PkiError(f"not a PEM certificate: {exc}") from exc


def common_name(subject: x509.Certificate | x509.CertificateSigningRequest) -> str:
    names = subject.subject.get_attributes_for_oid(NameOID.COMMON_NAME)
    if len(names) != 1:
        raise PkiError("the subject must carry exactly one common name (CN)")
    value = names[0].value
    return value if isinstance(value, str) else value.decode()


def _now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


def _builder(
    subject: x509.Name, issuer: x509.Name, public_key: ec.EllipticCurvePublicKey, days: float
) -> x509.CertificateBuilder:
    now = _now()
    return (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(issuer)
        .public_key(public_key)
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))  # a little slack for clock skew
        .not_valid_after(now + dt.timedelta(days=days))
    )


def new_ca(name: str, days: float = 3650) -> Issued:
    """A self-signed CA for a small store (or a test fleet)."""
    key = new_key()
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)])
    cert = (
        _builder(subject, subject, key.public_key(), days)
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=False,
                content_commitment=False,
                key_encipherment=False,
                data_encipherment=False,
                key_agreement=False,
                key_cert_sign=True,
                crl_sign=True,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
        .sign(key, hashes.SHA256())
    )
    return Issued(cert.public_bytes(serialization.Encoding.PEM), key_pem(key))


def _ca(ca: Issued) -> tuple[x509.Certificate, PrivateKey]:
    cert, key = load_cert(ca.cert_pem), load_key(ca.key_pem)
    if cert.public_key() != key.public_key():
        raise PkiError("the CA key does not belong to the CA certificate")
    return cert, key


def sign_csr(csr_pem: bytes, ca: Issued, *, expected_cn: str, days: float = 825) -> bytes:
    """The device's client certificate; refused unless the CSR names `expected_cn`."""
    csr = load_csr(csr_pem)
    cn = common_name(csr)
    if cn != expected_cn:
        raise PkiError(f"the request is for {cn!r}, not for device {expected_cn!r}")
    public_key = csr.public_key()
    if not isinstance(public_key, ec.EllipticCurvePublicKey):
        raise PkiError("the request's key is not an EC key")
    ca_cert, ca_key = _ca(ca)
    cert = (
        _builder(csr.subject, ca_cert.subject, public_key, days)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.CLIENT_AUTH]), critical=False)
        .sign(ca_key, hashes.SHA256())
    )
    return cert.public_bytes(serialization.Encoding.PEM)


def server_cert(ca: Issued, hosts: list[str], *, days: float = 825) -> Issued:
    """A broker certificate for `hosts` (DNS names or IP addresses), e.g. a test Mosquitto."""
    key = new_key()
    names: list[x509.GeneralName] = []
    for host in hosts:
        try:
            names.append(x509.IPAddress(ipaddress.ip_address(host)))
        except ValueError:
            names.append(x509.DNSName(host))
    ca_cert, ca_key = _ca(ca)
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, hosts[0])])
    cert = (
        _builder(subject, ca_cert.subject, key.public_key(), days)
        .add_extension(x509.SubjectAlternativeName(names), critical=False)
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
        .sign(ca_key, hashes.SHA256())
    )
    return Issued(cert.public_bytes(serialization.Encoding.PEM), key_pem(key))


def issued_by(cert_pem: bytes, ca_pem: bytes) -> bool:
    """True if `ca_pem` signed `cert_pem`: a bundle whose certificate and CA disagree is refused."""
    cert, ca = load_cert(cert_pem), load_cert(ca_pem)
    try:
        cert.verify_directly_issued_by(ca)
    except (ValueError, TypeError, InvalidSignature):
        return False
    return True


def matches_key(cert_pem: bytes, key: PrivateKey) -> bool:
    return load_cert(cert_pem).public_key() == key.public_key()


def expires(cert_pem: bytes) -> dt.datetime:
    return load_cert(cert_pem).not_valid_after_utc
