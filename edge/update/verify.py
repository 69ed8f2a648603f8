"""What makes an update wheel acceptable: the release key's signature and its own metadata.

The release key signs the 32 raw bytes of the wheel's SHA-256 digest (Ed25519).
Name and version are read from inside the signed wheel, never from the command,
so nothing unsigned decides where it is installed.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import io
import re
import zipfile
from dataclasses import dataclass
from email.parser import HeaderParser

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from edge.errors import EdgeError

DIST_NAME = "omo-edge"
_VERSION = re.compile(r"^[0-9][0-9A-Za-z.+!_-]{0,63}$")
_TAG = re.compile(r"^[A-Za-z0-9_.]+-[A-Za-z0-9_.]+-[A-Za-z0-9_.]+$")


class UpdateRefused(EdgeError):
    """An update that will not be staged or applied; the message says why, in plain words."""


@dataclass(frozen=True)
class Wheel:
    name: str
    version: str
    filename: str  # a wheel file name pip accepts: name-version-tag.whl


def normalize(name: str) -> str:
    """PEP 503 name normalisation (`omo_edge`, `Omo.Edge` -> `omo-edge`)."""
    return re.sub(r"[-_.]+", "-", name).lower()


def digest(data: bytes) -> bytes:
    return hashlib.sha256(data).digest()


def check_signature(data: bytes, sig_b64: object, public_key_b64: str) -> None:
    """Raise UpdateRefused unless `sig_b64` is the release key's signature of sha256(data)."""
    if not public_key_b64:
        raise UpdateRefused("updates are off: no [update] release_public_key in the config")
    if not isinstance(sig_b64, str) or not sig_b64:
        raise UpdateRefused("the update is unsigned (args.sig is missing)")
    try:
        key = Ed25519PublicKey.from_public_bytes(base64.b64decode(public_key_b64, validate=True))
    except (binascii.Error, ValueError) as exc:
        raise UpdateRefused(
            f"[update] release_public_key is not a base64 Ed25519 key: {exc}"
        ) from exc
    try:
        signature = base64.b64decode(sig_b64, validate=True)
    except binascii.Error as exc:
        raise UpdateRefused("args.sig is not base64") from exc
    try:
        key.verify(signature, digest(data))
    except InvalidSignature as exc:
        raise UpdateRefused("the signature does not match the release key") from exc


def read_wheel(data: bytes) -> Wheel:
    """Name, version and tag from the wheel's own dist-info; UpdateRefused if it is not ours."""
    try:
        with zipfile.ZipFile(io.BytesIO(data)) as zf:
            infos = [
                n for n in zf.namelist() if re.fullmatch(r"[^/]+\.dist-info/(METADATA|WHEEL)", n)
            ]
            meta = next((n for n in infos if n.endswith("/METADATA")), None)
            wheel = next((n for n in infos if n.endswith("/WHEEL")), None)
            if meta is None or wheel is None:
                raise UpdateRefused("not a wheel: no .dist-info/METADATA and WHEEL inside")
            headers = HeaderParser().parsestr(zf.read(meta).decode("utf-8"))
            tags = HeaderParser().parsestr(zf.read(wheel).decode("utf-8")).get_all("Tag") or []
    except (zipfile.BadZipFile, UnicodeDecodeError, KeyError) as exc:
        raise UpdateRefused(f"not a wheel: {exc}") from exc
    name, version = str(headers.get("Name", "")), str(headers.get("Version", ""))
    if normalize(name) != DIST_NAME:
        raise UpdateRefused(f"the wheel is {name!r}, not {DIST_NAME}")
    if not _VERSION.fullmatch(version):
        raise UpdateRefused(f"the wheel's version {version!r} is not a plain version")
    tag = str(tags[0]).strip() if tags else ""
    if not _TAG.fullmatch(tag):
        raise UpdateRefused(f"the wheel's tag {tag!r} is not usable")
    filename = f"{normalize(name).replace('-', '_')}-{version.replace('-', '_')}-{tag}.whl"
    return Wheel(name=normalize(name), version=version, filename=filename)


def verify(data: bytes, sig_b64: object, public_key_b64: str) -> Wheel:
    """The whole check, daemon side and apply side alike: signature first, then contents."""
    check_signature(data, sig_b64, public_key_b64)
    return read_wheel(data)
