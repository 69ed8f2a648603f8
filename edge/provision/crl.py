"""Certificate revocation lists: how the fleet broker stops trusting a lost device.

Mosquitto's `crlfile` makes it refuse every certificate whose serial is
listed, and (OpenSSL's rule) every certificate at all once the list is past
its next-update time: re-issue it well before then.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization

from edge.provision import pki


def serial(cert_pem: bytes) -> int:
    return pki.load_cert(cert_pem).serial_number


def revocation_list(ca: pki.Issued, revoked: Iterable[int] = (), *, days: float = 30) -> bytes:
    """A PEM CRL signed by `ca`, listing the `revoked` serial numbers, valid for `days`."""
    ca_cert = pki.load_cert(ca.cert_pem)
    ca_key = pki.load_key(ca.key_pem)
    now = dt.datetime.now(dt.UTC)
    builder = (
        x509.CertificateRevocationListBuilder()
        .issuer_name(ca_cert.subject)
        .last_update(now - dt.timedelta(minutes=5))
        .next_update(now + dt.timedelta(days=days))
    )
    for number in sorted(set(revoked)):
        builder = builder.add_revoked_certificate(
            x509.RevokedCertificateBuilder()
            .serial_number(number)
            .revocation_date(now - dt.timedelta(minutes=1))
            .build()
        )
    crl = builder.sign(ca_key, hashes.SHA256())
    return crl.public_bytes(serialization.Encoding.PEM)
