"""Content signing keys: made by `omo-ops keygen`, read by `omo-ops content publish`.

A key file is private (0600) JSON with the names docs/vectors/manifest.json uses:
`{"kid", "seed_b64", "public_key_b64"}` (the raw 32-byte Ed25519 seed and public
key). A PEM Ed25519 private key (`openssl genpkey -algorithm ed25519`) is read
too, for teams that keep keys that way. Anything else is refused in plain words:
a public key, a TLS key, a key that does not match the public key it names.
"""

from __future__ import annotations

import base64
import binascii
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated

import msgspec
from msgspec import Meta
from nacl.signing import SigningKey

from edge.errors import plain
from edge.files import write_atomic
from edge.ops.errors import OpsError

Kid = Annotated[str, Meta(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9._-]+$")]
"""What a manifest's `kid` may be (at most 64 characters), kept to letters, digits, `._-`
so it is a safe word on a command line and in a config file."""


class KeyFile(msgspec.Struct, frozen=True, kw_only=True):
    kid: Kid
    seed_b64: str
    public_key_b64: str


@dataclass(frozen=True, slots=True)
class ContentKey:
    key: SigningKey
    kid: str | None  # what the file says its kid is (a PEM file says nothing)

    @property
    def public_b64(self) -> str:
        return base64.b64encode(bytes(self.key.verify_key)).decode()


def check_kid(kid: str) -> str:
    """`kid` if it may name a key, else OpsError."""
    try:
        return msgspec.convert(kid, Kid)
    except msgspec.ValidationError as exc:
        raise OpsError(
            f"--kid {kid!r}: 1-64 letters, digits, '.', '_' or '-' (e.g. content-2026)"
        ) from exc


def config_line(kid: str, public_b64: str) -> str:
    """The line for a device's `[content]` table that trusts this key."""
    return f'public_keys = {{ "{kid}" = "{public_b64}" }}'


def write_new_key(path: Path, kid: str, *, force: bool) -> ContentKey:
    """A fresh key in `path` (0600 from its first byte); refuses to overwrite without force."""
    check_kid(kid)
    if path.exists() and not force:
        raise OpsError(f"{path} exists; keep that key, or give --force to replace it")
    if not path.parent.is_dir():
        raise OpsError(f"{path.parent}: no such folder")
    key = ContentKey(SigningKey.generate(), kid)
    body = KeyFile(
        kid=kid,
        seed_b64=base64.b64encode(bytes(key.key)).decode(),
        public_key_b64=key.public_b64,
    )
    try:
        write_atomic(path, msgspec.json.format(msgspec.json.encode(body)) + b"\n", 0o600)
    except OSError as exc:
        raise OpsError(f"cannot write {path}: {exc.strerror or exc}") from exc
    return key


def _raw(value: str, what: str, path: Path) -> bytes:
    try:
        raw = base64.b64decode(value, validate=True)
    except (binascii.Error, ValueError) as exc:
        raise OpsError(f"{path}: {what} is not base64") from exc
    if len(raw) != 32:
        raise OpsError(f"{path}: {what} is {len(raw)} bytes, not the 32 of an Ed25519 key")
    return raw


def _from_pem(data: bytes, path: Path) -> ContentKey:
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

    try:
        key = serialization.load_pem_private_key(data, password=None)
    except (ValueError, TypeError) as exc:
        raise OpsError(f"{path}: not a readable unencrypted PEM private key ({exc})") from exc
    if not isinstance(key, Ed25519PrivateKey):
        raise OpsError(f"{path}: a {type(key).__name__} key; manifests are signed with Ed25519")
    seed = key.private_bytes(
        serialization.Encoding.Raw,
        serialization.PrivateFormat.Raw,
        serialization.NoEncryption(),
    )
    return ContentKey(SigningKey(seed), None)


def read_key(path: Path) -> ContentKey:
    """The signing key in `path`, or OpsError saying what the file is instead."""
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise OpsError(f"cannot read the signing key {path}: {exc.strerror or exc}") from exc
    if b"-----BEGIN" in data:
        if b"PRIVATE KEY" not in data:
            raise OpsError(
                f"{path}: a PEM file without a private key (a certificate or public key?)"
            )
        return _from_pem(data, path)
    try:
        doc = msgspec.json.decode(data, type=KeyFile)
    except (msgspec.DecodeError, msgspec.ValidationError) as exc:
        raise OpsError(
            f"{path}: not a signing key file from `omo-ops keygen` ({plain(exc)})"
        ) from exc
    key = ContentKey(SigningKey(_raw(doc.seed_b64, "seed_b64", path)), doc.kid)
    _raw(doc.public_key_b64, "public_key_b64", path)
    if key.public_b64 != doc.public_key_b64:
        raise OpsError(f"{path}: its seed and public key do not belong together")
    return key


def readable_by_others(path: Path) -> bool:
    try:
        return bool(os.stat(path).st_mode & 0o077)
    except OSError:
        return False
