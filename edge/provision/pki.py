"""X.509 for the fleet: a key that never leaves the device, its CSR, and the CAs that sign.

ECDSA P-256 throughout: every TLS stack and MQTT broker speaks it, and a Pi
signs with it in well under a millisecond. The certificate's CN is the
device id (docs/protocol.md: one id everywhere); Mosquitto's
`use_identity_as_username` turns it into the ACL user name.

The fleet's PKI (`omo-ops ca init`, docs/tls.md) is a root kept offline and two
intermediates under it, each limited by its extended key usage: the device CA
issues client certificates only (EKU clientAuth on it and on what it signs),
the server CA broker certificates only (serverAuth). OpenSSL refuses a chain
whose CA's EKU lacks the purpose being checked, so the online signer holding
the device CA's key cannot mint a certificate a device would take for its
broker. A small store may still use one self-signed CA (`new_ca`) for both.
"""

from __future__ import annotations

import datetime as dt
import ipaddress
from dataclasses import dataclass
from typing import Literal

from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from edge.errors import EdgeError

PrivateKey = ec.EllipticCurvePrivateKey


Usage = Literal["client", "server"]
"""What a certificate (and the CA that issues it) may be used for: TLS client or server."""
USAGE_OID: dict[Usage, x509.ObjectIdentifier] = {
    "client": ExtendedKeyUsageOID.CLIENT_AUTH,
    "server": ExtendedKeyUsageOID.SERVER_AUTH,
}


class PkiError(EdgeError):
    """A key, request or certificate that cannot be used; the message says why."""


class CertRefused(PkiError):
    """A certificate offered to a device that it will not use; `reason` is a stable code."""

    def __init__(self, reason: str, detail: str) -> None:
        self.reason = reason
        self.detail = detail
        super().__init__(f"{reason}: {detail}")


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


def load_certs(pem: bytes) -> list[x509.Certificate]:
    """Every certificate of a PEM bundle (a CA file may hold several: a rotation, a chain)."""
    try:
        certs = x509.load_pem_x509_certificates(pem)
    except ValueError as exc:
        raise PkiError(f"not a PEM certificate bundle: {exc}") from exc
    return certs


def pem(*certs: x509.Certificate) -> bytes:
    return b"".join(c.public_bytes(serialization.Encoding.PEM) for c in certs)


def common_name(subject: x509.Certificate | x509.CertificateSigningRequest) -> str:
    names = subject.subject.get_attributes_for_oid(NameOID.COMMON_NAME)
    if len(names) != 1:
        raise PkiError("the subject must carry exactly one common name (CN)")
    value = names[0].value
    return value if isinstance(value, str) else value.decode()


def _now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


def _builder(
    subject: x509.Name,
    issuer: x509.Certificate | None,
    public_key: ec.EllipticCurvePublicKey,
    days: float,
) -> x509.CertificateBuilder:
    """Validity from a little before now (clock skew) for `days`; key identifiers (they
    pick the right issuer when a rotated CA keeps its name). `issuer` None: self-signed."""
    now = _now()
    ski = x509.SubjectKeyIdentifier.from_public_key(public_key)
    if issuer is None:
        aki = x509.AuthorityKeyIdentifier.from_issuer_subject_key_identifier(ski)
    else:
        aki = x509.AuthorityKeyIdentifier.from_issuer_public_key(_ec_public(issuer))
    return (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(subject if issuer is None else issuer.subject)
        .public_key(public_key)
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + dt.timedelta(days=days))
        .add_extension(ski, critical=False)
        .add_extension(aki, critical=False)
    )


def _ec_public(cert: x509.Certificate) -> ec.EllipticCurvePublicKey:
    key = cert.public_key()
    if not isinstance(key, ec.EllipticCurvePublicKey):
        raise PkiError("the CA's key is not an EC key")
    return key


def _key_usage(*, ca: bool) -> x509.KeyUsage:
    return x509.KeyUsage(
        digital_signature=not ca,
        content_commitment=False,
        key_encipherment=False,
        data_encipherment=False,
        key_agreement=False,
        key_cert_sign=ca,
        crl_sign=ca,
        encipher_only=False,
        decipher_only=False,
    )


def _name(cn: str) -> x509.Name:
    return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, cn)])


def new_ca(name: str, days: float = 3650, *, path_length: int | None = 0) -> Issued:
    """A self-signed CA: a small store's only CA (path length 0), or the fleet's root
    (path length 1: it signs intermediates, which sign certificates)."""
    key = new_key()
    cert = (
        _builder(_name(name), None, key.public_key(), days)
        .add_extension(x509.BasicConstraints(ca=True, path_length=path_length), critical=True)
        .add_extension(_key_usage(ca=True), critical=True)
        .sign(key, hashes.SHA256())
    )
    return Issued(cert.public_bytes(serialization.Encoding.PEM), key_pem(key))


def new_intermediate(parent: Issued, name: str, usage: Usage, *, days: float = 1825) -> Issued:
    """An intermediate CA under `parent` that issues `usage` certificates only: its EKU
    names that one purpose, and TLS stacks refuse a chain through it for any other."""
    parent_cert, parent_key = _ca(parent)
    key = new_key()
    cert = (
        _builder(_name(name), parent_cert, key.public_key(), days)
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(_key_usage(ca=True), critical=True)
        .add_extension(x509.ExtendedKeyUsage([USAGE_OID[usage]]), critical=False)
        .sign(parent_key, hashes.SHA256())
    )
    return Issued(cert.public_bytes(serialization.Encoding.PEM), key_pem(key))


def _ca(ca: Issued) -> tuple[x509.Certificate, PrivateKey]:
    cert, key = load_cert(ca.cert_pem), load_key(ca.key_pem)
    if cert.public_key() != key.public_key():
        raise PkiError("the CA key does not belong to the CA certificate")
    return cert, key


def sign_csr(csr_pem: bytes, ca: Issued, *, expected_cn: str, days: float = 825) -> bytes:
    """The device's client certificate (EKU clientAuth only); refused unless the CSR
    names `expected_cn`. `days` may be a fraction (tests make certificates of seconds)."""
    csr = load_csr(csr_pem)
    cn = common_name(csr)
    if cn != expected_cn:
        raise PkiError(f"the request is for {cn!r}, not for device {expected_cn!r}")
    public_key = csr.public_key()
    if not isinstance(public_key, ec.EllipticCurvePublicKey):
        raise PkiError("the request's key is not an EC key")
    ca_cert, ca_key = _ca(ca)
    cert = (
        _builder(_name(cn), ca_cert, public_key, days)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(_key_usage(ca=False), critical=True)
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.CLIENT_AUTH]), critical=False)
        .sign(ca_key, hashes.SHA256())
    )
    return cert.public_bytes(serialization.Encoding.PEM)


def server_cert(ca: Issued, hosts: list[str], *, days: float = 825) -> Issued:
    """A broker certificate for `hosts` (DNS names or IP addresses), EKU serverAuth only.
    `cert_pem` is the certificate alone; a broker behind an intermediate serves it
    followed by the intermediate (`omo-ops ca init` writes broker.crt that way)."""
    key = new_key()
    names: list[x509.GeneralName] = []
    for host in hosts:
        try:
            names.append(x509.IPAddress(ipaddress.ip_address(host)))
        except ValueError:
            names.append(x509.DNSName(host))
    ca_cert, ca_key = _ca(ca)
    cert = (
        _builder(_name(hosts[0]), ca_cert, key.public_key(), days)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(_key_usage(ca=False), critical=True)
        .add_extension(x509.SubjectAlternativeName(names), critical=False)
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
        .sign(ca_key, hashes.SHA256())
    )
    return Issued(cert.public_bytes(serialization.Encoding.PEM), key_pem(key))


def _signed_by(cert: x509.Certificate, ca: x509.Certificate) -> bool:
    try:
        cert.verify_directly_issued_by(ca)
    except (ValueError, TypeError, InvalidSignature):
        return False
    return True


def issued_by(cert_pem: bytes, ca_pem: bytes) -> bool:
    """True if a CA in the bundle `ca_pem` signed `cert_pem` (a single CA, or a fleet's
    trust bundle holding the root and its intermediates): a bundle whose certificate
    and CA disagree is refused."""
    cert = load_cert(cert_pem)
    return any(_signed_by(cert, ca) for ca in load_certs(ca_pem))


def usages(cert: x509.Certificate) -> set[Usage] | None:
    """The TLS usages a certificate's EKU allows; None when it has no EKU (any)."""
    try:
        eku = cert.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value
    except x509.ExtensionNotFound:
        return None
    return {u for u, oid in USAGE_OID.items() if oid in eku}


def is_ca(cert: x509.Certificate) -> bool:
    try:
        return bool(cert.extensions.get_extension_for_class(x509.BasicConstraints).value.ca)
    except x509.ExtensionNotFound:
        return False


def _self_signed(cert: x509.Certificate) -> bool:
    return cert.issuer == cert.subject and _signed_by(cert, cert)


def _in_date(cert: x509.Certificate, now: dt.datetime) -> bool:
    return cert.not_valid_before_utc <= now <= cert.not_valid_after_utc


def chain_problem(
    cert: x509.Certificate,
    trust: list[x509.Certificate],
    extra: list[x509.Certificate],
    usage: Usage,
    now: dt.datetime,
) -> str | None:
    """Why `cert` does not chain to a self-signed root in `trust` through CAs (from
    `trust` or `extra`) that are in date and allowed to issue `usage` certificates;
    None when it does. Roots come only from `trust`, never from `extra`."""
    roots = [c for c in trust if _self_signed(c)]
    cas = [c for c in [*trust, *extra] if is_ca(c)]
    current, seen = cert, 0
    while seen < 4:
        if any(_signed_by(current, root) and _fit(root, usage, now) for root in roots):
            return None
        issuers = [c for c in cas if c not in roots and _signed_by(current, c)]
        usable = [c for c in issuers if _fit(c, usage, now)]
        if not usable:
            if issuers:
                return (
                    f"its issuer {issuers[0].subject.rfc4514_string()} may not issue "
                    f"{usage} certificates, or is out of date"
                )
            return f"no trusted CA issued {current.subject.rfc4514_string()}"
        current, seen = usable[0], seen + 1
    return "the chain is too long"


def _fit(ca: x509.Certificate, usage: Usage, now: dt.datetime) -> bool:
    allowed = usages(ca)
    return is_ca(ca) and _in_date(ca, now) and (allowed is None or usage in allowed)


def check_device_cert(
    cert_pem: bytes,
    *,
    device_id: str,
    key: ec.EllipticCurvePublicKey,
    trust_pem: bytes,
    chain_pem: bytes = b"",
    now: dt.datetime | None = None,
) -> x509.Certificate:
    """A renewed client certificate, before the device stores it: CN = `device_id`, the
    new `key`, EKU clientAuth, a leaf, in date, and issued through a CA allowed to issue
    client certificates up to a root in the device's own trust file (`trust_pem`, its
    `tls_ca`; `chain_pem` may bring intermediates, never roots). CertRefused otherwise."""
    now = now or _now()
    try:
        cert = load_cert(cert_pem)
        trust = load_certs(trust_pem)
        extra = load_certs(chain_pem) if chain_pem.strip() else []
        cn = common_name(cert)
    except PkiError as exc:
        raise CertRefused("malformed", str(exc)) from exc
    if cn != device_id:
        raise CertRefused("wrong_cn", f"the certificate is for {cn!r}, this device is {device_id}")
    if cert.public_key() != key:
        raise CertRefused("wrong_key", "the certificate does not hold the key of the request")
    allowed = usages(cert)
    if allowed is None or "client" not in allowed:
        raise CertRefused(
            "no_client_auth", "the certificate's extended key usage does not allow clientAuth"
        )
    if is_ca(cert):
        raise CertRefused("not_a_leaf", "the certificate is a CA certificate")
    if not _in_date(cert, now):
        raise CertRefused(
            "out_of_date",
            f"valid {cert.not_valid_before_utc:%Y-%m-%d %H:%M:%S} to "
            f"{cert.not_valid_after_utc:%Y-%m-%d %H:%M:%S} UTC, not now",
        )
    problem = chain_problem(cert, trust, extra, "client", now)
    if problem:
        raise CertRefused("bad_chain", problem)
    return cert


def matches_key(cert_pem: bytes, key: PrivateKey) -> bool:
    return load_cert(cert_pem).public_key() == key.public_key()


def expires(cert_pem: bytes) -> dt.datetime:
    return load_cert(cert_pem).not_valid_after_utc
