"""MQTT over TLS for the device: the client context, its settings, and its key files.

TLS 1.2 or newer, the broker's certificate checked against `tls_ca`, against
the host name we dialled and for EKU serverAuth, and (for mutual TLS) our own
certificate and key. The CA, certificate and key files are read again before
every reconnect when one of them changed, so a renewed certificate or a CA
bundle rotated on disk is used without restarting the daemon.
"""

from __future__ import annotations

import ipaddress
import os
import ssl
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from cryptography import x509

from edge.errors import ConfigError, EdgeError
from edge.provision import pki

if TYPE_CHECKING:
    from edge.config.sections import MqttConfig


class ExposedKeyError(EdgeError):
    """A private key file that others may read (or that another user owns)."""


@dataclass(frozen=True, slots=True)
class TlsFiles:
    ca: str
    cert: str = ""
    key: str = ""


X509_V_ERR_INVALID_PURPOSE = 26


def server_auth_problem(der: bytes | None) -> str | None:
    """Why the broker's certificate (DER) is not for a TLS server; None when it is.

    OpenSSL refuses a chain whose CA's EKU lacks serverAuth, but takes a leaf with no
    EKU at all; a broker certificate must say serverAuth (docs/tls.md)."""
    if not der:
        return "the broker showed no certificate"
    try:
        allowed = pki.usages(x509.load_der_x509_certificate(der))
    except ValueError as exc:
        return f"the broker's certificate cannot be read: {exc}"
    if allowed is None or "server" not in allowed:
        return "the broker's certificate is not for a TLS server (no EKU serverAuth)"
    return None


class _ClosingSSLSocket(ssl.SSLSocket):
    """Closes itself when the handshake fails (paho leaves that socket to the GC), and
    fails the handshake when the broker's certificate lacks EKU serverAuth."""

    def do_handshake(self, block: bool = False) -> None:
        try:
            super().do_handshake(block)
            problem = server_auth_problem(self.getpeercert(binary_form=True))
            if problem:
                error = ssl.SSLCertVerificationError(1, problem)
                error.verify_code = X509_V_ERR_INVALID_PURPOSE
                error.verify_message = problem
                raise error
        except BaseException:
            self.close()
            raise


def client_context(files: TlsFiles) -> ssl.SSLContext:
    """A client context: TLS >= 1.2, broker certificate (EKU serverAuth) and host name
    verified."""
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)  # CERT_REQUIRED and check_hostname on
    ctx.sslsocket_class = _ClosingSSLSocket
    ctx.minimum_version = ssl.TLSVersion.TLSv1_2
    ctx.load_verify_locations(cafile=files.ca)
    if files.cert:
        ctx.load_cert_chain(files.cert, files.key or None)
    return ctx


def file_signature(*paths: str) -> tuple[tuple[int, int, int], ...]:
    """Changes whenever one of `paths` is replaced or rewritten (inode, size, mtime)."""
    out = []
    for p in paths:
        try:
            st = os.stat(p)
            out.append((st.st_ino, st.st_size, st.st_mtime_ns))
        except OSError:
            out.append((0, 0, 0))
    return tuple(out)


# -- config checks (run when the config is loaded) --------------------------------


def _host_problem(host: str) -> str | None:
    if not host:
        return None
    if "://" in host:
        return "a host name or IP address without a scheme (not mqtts://...)"
    if any(c.isspace() for c in host) or "/" in host:
        return "a host name or IP address (no spaces or '/')"
    if host.count(":") == 1:
        return "a host name or IP address without a port (put the port in mqtt.port)"
    if ":" in host:
        try:
            ipaddress.IPv6Address(host.strip("[]"))
        except ValueError:
            return "a host name or IP address"
    return None


def _readable_file(key: str, path: str, what: str) -> None:
    p = Path(path)
    if not p.is_file():
        raise ConfigError(key, path, f"the path of an existing {what} file (no file there)")
    if not os.access(p, os.R_OK):
        raise ConfigError(
            key, path, f"a {what} file this user can read (permission denied; check its owner)"
        )


def check_mqtt(mqtt: MqttConfig, device_id: str) -> list[str]:
    """Raise ConfigError for TLS and broker settings that cannot work; return warnings."""
    problem = _host_problem(mqtt.host)
    if problem:
        raise ConfigError("mqtt.host", mqtt.host, problem)
    for node in mqtt.hosts:
        problem = _host_problem(node)
        if problem:
            raise ConfigError("mqtt.hosts", node, problem)
    ca, cert, key = mqtt.tls_ca, mqtt.tls_cert, mqtt.tls_key
    if cert and not key:
        raise ConfigError("mqtt.tls_key", key, "the client key file that goes with mqtt.tls_cert")
    if key and not cert:
        raise ConfigError(
            "mqtt.tls_cert", cert, "the client certificate file that goes with mqtt.tls_key"
        )
    if cert and not ca:
        raise ConfigError(
            "mqtt.tls_ca", ca, "the CA file that signed the broker's certificate (needed for TLS)"
        )
    warnings: list[str] = []
    if not ca:
        if mqtt.host and mqtt.port == 8883:
            warnings.append("mqtt.port is 8883 (MQTT over TLS) but mqtt.tls_ca is empty: no TLS")
        return warnings
    _readable_file("mqtt.tls_ca", ca, "PEM CA certificate")
    if mqtt.port == 1883:
        warnings.append(
            "mqtt.tls_ca is set but mqtt.port is 1883, the plain MQTT port; "
            "TLS brokers usually listen on 8883"
        )
    if cert:
        _readable_file("mqtt.tls_cert", cert, "PEM client certificate")
        _readable_file("mqtt.tls_key", key, "PEM private key")
        try:
            cn = pki.common_name(pki.load_cert(Path(cert).read_bytes()))
        except pki.PkiError as exc:
            raise ConfigError("mqtt.tls_cert", cert, f"a PEM client certificate ({exc})") from exc
        if device_id and cn != device_id:
            raise ConfigError(
                "mqtt.tls_cert",
                cert,
                f"a certificate for this device (its CN is {cn!r}, device.device_id is "
                f"{device_id!r})",
            )
    return warnings


# -- private key files (checked when the daemon starts) ----------------------------

_KEY_SUFFIXES = (".key",)
_SECRET_NAMES = ("bundle.json",)  # the provisioning bundle holds the visitor-pseudonym keys


def _looks_like_key(path: Path) -> bool:
    if path.suffix in _KEY_SUFFIXES or path.name in _SECRET_NAMES:
        return True
    if path.suffix != ".pem":
        return False
    try:
        with path.open("rb") as f:
            return b"PRIVATE KEY" in f.read(64)
    except OSError:
        return False


def key_files(tls_key: str, state_dir: Path) -> Iterator[Path]:
    """`tls_key` and every key-looking file in the state dir (two levels deep)."""
    if tls_key:
        yield Path(tls_key)
    if not state_dir.is_dir():
        return
    for root, dirs, files in os.walk(state_dir):
        depth = len(Path(root).relative_to(state_dir).parts)
        if depth >= 2:
            dirs[:] = []
        for name in files:
            path = Path(root) / name
            if _looks_like_key(path):
                yield path


def key_problem(path: Path) -> str | None:
    """Why `path` is not a safely kept private key, in words with the fix; None if it is."""
    try:
        st = path.stat()
    except FileNotFoundError:
        return None  # a missing mqtt.tls_key is a config error, reported there
    if st.st_uid != os.geteuid():
        return (
            f"private key {path} belongs to user id {st.st_uid}, not to the service user "
            f"(id {os.geteuid()}); fix: chown the file to the service user and chmod 600 {path}"
        )
    if st.st_mode & 0o077:
        return (
            f"private key {path} is readable by other users (mode {st.st_mode & 0o777:o}); "
            f"fix: chmod 600 {path}"
        )
    return None


def refuse_exposed_keys(tls_key: str, state_dir: Path) -> None:
    """Raise ExposedKeyError naming every private key others could read, and the fix."""
    problems = [p for p in (key_problem(k) for k in key_files(tls_key, state_dir)) if p]
    if problems:
        raise ExposedKeyError("refusing to start: " + "; ".join(problems))
