"""The provisioning bundle: what a paired device needs to join its store, checked and kept.

It arrives sealed over the pairing session, is checked here (the certificate's CN
is this device's id, the certificate holds this device's key and was issued by
the bundle's CA, every key is well-formed), and is written atomically, private
(0600), into the state dir: `bundle.json` plus `ca.pem` and `client.crt` for the
TLS stack. `overlay` lays it onto a Config, which then counts as provisioned.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Mapping
from pathlib import Path
from typing import Annotated, Any

import msgspec

from edge.config import Config
from edge.content.manifest import valid_public_key
from edge.errors import EdgeError
from edge.files import write_atomic
from edge.presence.pseudonym import PseudonymSettingsError
from edge.presence.pseudonym import from_settings as pseudonymizer
from edge.provision import pki

log = logging.getLogger(__name__)

BUNDLE_FILE = "bundle.json"
CA_FILE = "ca.pem"
CERT_FILE = "client.crt"
ID = Annotated[str, msgspec.Meta(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9._-]+$")]
Kid = Annotated[str, msgspec.Meta(min_length=1, max_length=64)]
Pem = Annotated[str, msgspec.Meta(min_length=1, max_length=16384)]


class BundleRejected(EdgeError):
    """A bundle this device will not use; the message says why in plain words."""


class Broker(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    host: Annotated[str, msgspec.Meta(min_length=1, max_length=253)]
    port: Annotated[int, msgspec.Meta(ge=1, le=65535)] = 8883


class Bundle(msgspec.Struct, frozen=True, kw_only=True):
    """TLS is always on: the broker is checked against `ca_pem`, we present `cert_pem`."""

    v: int = 1
    store_id: ID
    device_id: ID
    broker: Broker
    ca_pem: Pem
    cert_pem: Pem
    content_keys: dict[Kid, str] = {}
    checkin_keys: dict[Kid, str] = {}
    visitor_keys: dict[Kid, str] = {}


def encode(bundle: Bundle) -> bytes:
    return msgspec.json.encode(bundle)


def parse(data: bytes) -> Bundle:
    try:
        bundle = msgspec.json.decode(data, type=Bundle)
    except (msgspec.DecodeError, msgspec.ValidationError, UnicodeDecodeError) as exc:
        raise BundleRejected(f"the bundle is malformed: {exc}") from exc
    except RecursionError as exc:
        raise BundleRejected("the bundle is malformed: nested too deeply") from exc
    if bundle.v != 1:
        raise BundleRejected(f"bundle version {bundle.v} is not understood (1 is)")
    for name, keys in (("content", bundle.content_keys), ("checkin", bundle.checkin_keys)):
        for kid, pub in keys.items():
            if not valid_public_key(pub):
                raise BundleRejected(f"{name} key {kid!r} is not a base64 Ed25519 public key")
    if bundle.visitor_keys:  # the same rules as [privacy] in the config; the last key is used
        settings = {
            "visitor_keys": bundle.visitor_keys,
            "visitor_kid": list(bundle.visitor_keys)[-1],
        }
        try:
            pseudonymizer(settings)
        except PseudonymSettingsError as exc:
            raise BundleRejected(f"visitor keys: {exc.key} {exc.allowed}") from exc
    return bundle


def check(bundle: Bundle, device_id: str, key: pki.PrivateKey) -> None:
    """Refuse a bundle that is not for this device or whose certificate cannot be used."""
    if bundle.device_id != device_id:
        raise BundleRejected(f"the bundle is for device {bundle.device_id}, this is {device_id}")
    try:
        cn = pki.common_name(pki.load_cert(bundle.cert_pem.encode()))
        pki.load_cert(bundle.ca_pem.encode())
    except pki.PkiError as exc:
        raise BundleRejected(f"certificate mismatch: {exc}") from exc
    if cn != device_id:
        raise BundleRejected(f"certificate mismatch: it is for {cn!r}, this device is {device_id}")
    if not pki.matches_key(bundle.cert_pem.encode(), key):
        raise BundleRejected("certificate mismatch: it does not hold this device's key")
    if not pki.issued_by(bundle.cert_pem.encode(), bundle.ca_pem.encode()):
        raise BundleRejected("certificate mismatch: the bundle's CA did not issue it")


def save(state_dir: Path, bundle: Bundle) -> None:
    """PEM files first, bundle.json last: bundle.json present means the set is whole."""
    write_atomic(state_dir / CA_FILE, bundle.ca_pem.encode())
    write_atomic(state_dir / CERT_FILE, bundle.cert_pem.encode())
    write_atomic(state_dir / BUNDLE_FILE, encode(bundle))


def load(state_dir: Path) -> Bundle | None:
    """The saved bundle, or None if there is none (BundleRejected if it is damaged)."""
    try:
        data = (state_dir / BUNDLE_FILE).read_bytes()
    except FileNotFoundError:
        return None
    return parse(data)


def remove(state_dir: Path) -> None:
    """Forget the bundle and the client certificate (the identity stays)."""
    for name in (BUNDLE_FILE, CERT_FILE, CA_FILE):
        with contextlib.suppress(FileNotFoundError):
            (state_dir / name).unlink()


def overlay(config: Config, bundle: Bundle, state_dir: Path, key_file: Path) -> Config:
    """`config` with the bundle's store, broker (TLS, our certificate) and keys laid on it."""
    tables: dict[str, dict[str, Any]] = {
        "device": {"store_id": bundle.store_id, "device_id": bundle.device_id},
        "mqtt": {
            "host": bundle.broker.host,
            "port": bundle.broker.port,
            "tls_ca": str(state_dir / CA_FILE),
            "tls_cert": str(state_dir / CERT_FILE),
            "tls_key": str(key_file),
        },
        "content": {"public_keys": _merged(config.content.public_keys, bundle.content_keys)},
        "checkin": {"public_keys": _merged(config.checkin.public_keys, bundle.checkin_keys)},
    }
    if bundle.visitor_keys:  # the pseudonymisation keys; the last one given pseudonymises
        tables["privacy"] = {
            "visitor_keys": _merged(config.privacy.visitor_keys, bundle.visitor_keys),
            "visitor_kid": config.privacy.visitor_kid or list(bundle.visitor_keys)[-1],
        }
    return config.with_overrides(tables)


def _merged(base: Mapping[str, str], extra: Mapping[str, str]) -> dict[str, str]:
    return {**base, **extra}
