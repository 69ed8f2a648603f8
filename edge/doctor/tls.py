"""Doctor check of the TLS files: CA, client certificate and key parse, belong together,
name this device and are in date. `tls_verdict` is pure; `check_tls` reads the files.
"""

from __future__ import annotations

import datetime as dt
import ipaddress
from pathlib import Path

from edge import config as config_mod
from edge.doctor.findings import Finding
from edge.provision import pki

CERT_WARN_DAYS = 30


def _date(when: dt.datetime) -> str:
    return when.strftime("%Y-%m-%d %H:%M UTC")


def validity_verdict(what: str, cert_pem: bytes, now: dt.datetime) -> Finding | None:
    """A problem with `what`'s validity dates at `now`, or None."""
    cert = pki.load_cert(cert_pem)
    start, end = cert.not_valid_before_utc, cert.not_valid_after_utc
    renew = (
        "the device renews it itself within [mqtt] renew_before (is omo-ops ca serve "
        "running?); else pair the device again (omo-ops provision pair)"
    )
    if now >= end:
        return Finding("FAIL", "tls", f"the {what} expired on {_date(end)}", renew)
    if now < start:
        return Finding(
            "FAIL",
            "tls",
            f"the {what} is not valid before {_date(start)}",
            "the clock is wrong (see the clock line) or the certificate was made wrongly",
        )
    if end - now < dt.timedelta(days=CERT_WARN_DAYS):
        days = (end - now).days
        return Finding("WARN", "tls", f"the {what} expires on {_date(end)}, in {days} days", renew)
    return None


def tls_verdict(
    ca_pem: bytes, cert_pem: bytes | None, key_pem: bytes | None, device_id: str, now: dt.datetime
) -> list[Finding]:
    """CA, client certificate and key: parse, belong together, name this device, in date."""
    redo = "pair the device again, or put the right files in [mqtt] tls_ca/tls_cert/tls_key"
    try:
        pki.load_cert(ca_pem)
    except pki.PkiError as exc:
        return [Finding("FAIL", "tls", f"the CA file (tls_ca) is unusable: {exc}", redo)]
    found = [f for f in [validity_verdict("CA certificate", ca_pem, now)] if f]
    if (cert_pem is None) != (key_pem is None):
        missing = "tls_key" if key_pem is None else "tls_cert"
        problem = f"a client certificate needs its key: {missing} is empty"
        return [*found, Finding("FAIL", "tls", problem, redo)]
    if cert_pem is None or key_pem is None:
        return found or [Finding("OK", "tls", "CA readable; no client certificate configured")]
    try:
        key = pki.load_key(key_pem)
        pki.load_cert(cert_pem)
    except pki.PkiError as exc:
        return [*found, Finding("FAIL", "tls", str(exc), redo)]
    if not pki.matches_key(cert_pem, key):
        found.append(
            Finding("FAIL", "tls", "the private key does not belong to the certificate", redo)
        )
    if not _issued_through(cert_pem, ca_pem, now):
        found.append(
            Finding("FAIL", "tls", "the client certificate was not issued by the CA", redo)
        )
    try:
        cn = pki.common_name(pki.load_cert(cert_pem))
    except pki.PkiError as exc:
        cn = f"({exc})"
    if cn != device_id:
        found.append(
            Finding(
                "FAIL",
                "tls",
                f"the certificate is for {cn!r}, but this device is {device_id!r}",
                redo,
            )
        )
    found += [f for f in [validity_verdict("client certificate", cert_pem, now)] if f]
    if not found:
        end = pki.expires(cert_pem)
        found.append(
            Finding(
                "OK",
                "tls",
                f"CA, certificate and key belong together, CN {cn}, valid until {_date(end)}",
            )
        )
    return found


def _issued_through(cert_pem: bytes, ca_pem: bytes, now: dt.datetime) -> bool:
    """Signed by a CA of the bundle, or (the fleet's PKI) through the intermediates that
    follow the certificate in its file up to a root of the bundle."""
    if pki.issued_by(cert_pem, ca_pem):
        return True
    chain = pki.load_certs(cert_pem)
    trust = pki.load_certs(ca_pem)
    return pki.chain_problem(chain[0], trust, chain[1:], "client", now) is None


def _loopback(host: str) -> bool:
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return host == "localhost"


def check_tls(cfg: config_mod.Config) -> list[Finding]:
    m = cfg.mqtt
    if not cfg.provisioned:
        return [Finding("OK", "tls", "skipped: the device is not provisioned")]
    if not m.tls_ca:
        if _loopback(m.host):
            return [Finding("OK", "tls", "not used (the broker is on this machine)")]
        return [
            Finding(
                "WARN",
                "tls",
                f"no TLS to {m.host}: anyone on the network can read and forge messages",
                "provision the device (pairing sets up TLS) or set [mqtt] tls_ca",
            )
        ]
    pems: dict[str, bytes | None] = {}
    files = {"tls_ca": m.tls_ca, "tls_cert": m.tls_cert, "tls_key": m.tls_key}
    for key, path in files.items():
        if not path:
            pems[key] = None
            continue
        try:
            pems[key] = Path(path).read_bytes()
        except OSError as exc:
            return [
                Finding(
                    "FAIL",
                    "tls",
                    f"cannot read [mqtt] {key} {path}: {exc.strerror or exc}",
                    "correct the path, or let the service user read it",
                )
            ]
    ca = pems["tls_ca"]
    assert ca is not None
    return tls_verdict(
        ca, pems["tls_cert"], pems["tls_key"], cfg.device.device_id, dt.datetime.now(dt.UTC)
    )
