"""Certificate revocation lists: how the fleet broker stops trusting a lost device.

Mosquitto's `crlfile` makes it refuse every certificate whose serial is
listed, and (OpenSSL's rule) every certificate at all once the list is past
its next-update time: `omo-ops ca serve` re-issues it well before then. With
the fleet's PKI the list is signed by the device CA, the issuer of every
device certificate (docs/tls.md).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable

from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec

from edge.provision import pki


def serial(cert_pem: bytes) -> int:
    return pki.load_cert(cert_pem).serial_number


def revocation_list(
    ca: pki.Issued,
    revoked: Iterable[int] = (),
    *,
    days: float = 30,
    number: int | None = None,
    now: dt.datetime | None = None,
) -> bytes:
    """A PEM CRL signed by `ca`, listing the `revoked` serial numbers, valid for `days`
    (a fraction for tests), with CRL number `number` when given (it only goes up)."""
    ca_cert = pki.load_cert(ca.cert_pem)
    ca_key = pki.load_key(ca.key_pem)
    now = now or dt.datetime.now(dt.UTC)
    public = ca_cert.public_key()
    if not isinstance(public, ec.EllipticCurvePublicKey):
        raise pki.PkiError("the CA's key is not an EC key")
    builder = (
        x509.CertificateRevocationListBuilder()
        .issuer_name(ca_cert.subject)
        .last_update(now - dt.timedelta(minutes=5))
        .next_update(now + dt.timedelta(days=days))
        .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(public), critical=False)
    )
    if number is not None:
        builder = builder.add_extension(x509.CRLNumber(number), critical=False)
    for number_ in sorted(set(revoked)):
        builder = builder.add_revoked_certificate(
            x509.RevokedCertificateBuilder()
            .serial_number(number_)
            .revocation_date(now - dt.timedelta(minutes=1))
            .build()
        )
    crl = builder.sign(ca_key, hashes.SHA256())
    return crl.public_bytes(serialization.Encoding.PEM)


def load(crl_pem: bytes) -> x509.CertificateRevocationList:
    try:
        return x509.load_pem_x509_crl(crl_pem)
    except ValueError as exc:
        raise pki.PkiError(f"not a PEM certificate revocation list: {exc}") from exc


def split(pem: bytes) -> list[bytes]:
    """Each CRL of a file holding one per issuing CA (the fleet's during a rotation)."""
    end = b"-----END X509 CRL-----"
    return [part.strip() + b"\n" + end + b"\n" for part in pem.split(end) if part.strip()]


def next_update(crl_pem: bytes) -> dt.datetime:
    """When the list stops being valid (and the broker would refuse everyone); of a file
    holding several, the soonest."""
    whens = [load(one).next_update_utc for one in split(crl_pem)] or [None]
    if None in whens:
        raise pki.PkiError("a revocation list has no next-update time")
    return min(w for w in whens if w is not None)


def last_update(crl_pem: bytes) -> dt.datetime:
    return load(crl_pem).last_update_utc


def revoked_serials(crl_pem: bytes) -> set[int]:
    """The serials listed, in every CRL of the file."""
    return {entry.serial_number for one in split(crl_pem) for entry in load(one)}


def signed_by(crl_pem: bytes, ca_pem: bytes) -> bool:
    try:
        public = pki.load_cert(ca_pem).public_key()
        if not isinstance(public, ec.EllipticCurvePublicKey):
            return False
        return load(crl_pem).is_signature_valid(public)
    except (TypeError, InvalidSignature):
        return False
