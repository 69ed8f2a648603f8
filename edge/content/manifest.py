"""Signed manifests (docs/protocol.md "Manifest"): checked before anything in them is believed.

Order matters: the payload is parsed, then the key is looked up and the
signature checked over the canonical form of the `manifest` value exactly as
received; only a manifest that verifies is read any further. Until then its
fields serve only the rejection's message (`manifest_version`).
"""

from __future__ import annotations

import base64
import hashlib
import json
import re
from collections.abc import Mapping
from typing import Annotated, Any
from zoneinfo import ZoneInfo

import msgspec
from msgspec import Meta
from nacl.exceptions import BadSignatureError
from nacl.signing import SigningKey, VerifyKey

from edge.content import legible, reasons
from edge.content.fallback import safe_name
from edge.content.schedule import Window
from edge.content.slides import AssetName, Slide, parse_slide
from edge.errors import ConfigError, ContentRejected
from edge.signed import EnvelopeError, open_envelope

_SHA256 = re.compile(r"[0-9a-f]{64}")


def is_sha256(value: str) -> bool:
    """64 lowercase hex digits: the only form of an asset's id, and safe as a file name."""
    return _SHA256.fullmatch(value) is not None


Timestamp = Annotated[int, Meta(ge=0, le=2**63 - 1, description="ms since the Unix epoch")]
Version = Annotated[
    int, Meta(ge=0, le=2**53, description="only ever goes up, per scope (store or device)")
]
Sha256 = Annotated[str, Meta(pattern="^[0-9a-f]{64}$", description="lowercase hex SHA-256")]


class Scope(msgspec.Struct, frozen=True):
    """Whose manifest: a store's (`device_id` null, on `S/manifest`) or one device's."""

    store_id: Annotated[str, Meta(min_length=1, max_length=64)]
    device_id: Annotated[str, Meta(min_length=1, max_length=64)] | None


class Manifest(msgspec.Struct, frozen=True, kw_only=True):
    """What plays: slides, when, and the assets they need. Signed as a whole."""

    version: Version
    issued_ts: Timestamp
    expires_ts: Annotated[
        int, Meta(ge=0, le=2**63 - 1, description="after this the device stops playing it")
    ]
    scope: Scope
    playlist: Annotated[list[Slide], Meta(min_length=1, description="plays when no window is open")]
    schedule: list[Window]
    assets: Annotated[
        dict[AssetName, Sha256], Meta(description="asset name -> SHA-256 of its bytes")
    ]
    timezone: Annotated[
        str, Meta(min_length=1, max_length=64, description="IANA name, e.g. Asia/Tokyo")
    ]
    offers: Annotated[
        dict[Annotated[str, Meta(min_length=1, max_length=64)], Slide],
        Meta(
            description="segment -> slide shown to a LAN check-in whose signed token claims "
            "that segment while central cannot be reached"
        ),
    ] = {}

    def zone(self) -> ZoneInfo:
        return ZoneInfo(self.timezone)


class SignedManifest(msgspec.Struct, frozen=True, kw_only=True):
    """`S/manifest`, `P/manifest` (retained): a manifest and its Ed25519 signature."""

    manifest: Manifest
    sig: Annotated[
        str,
        Meta(
            min_length=1,
            description="base64 Ed25519 signature over the canonical JSON of `manifest`",
        ),
    ]
    kid: Annotated[str, Meta(min_length=1, max_length=64, description="the signing key's id")]


class _Header(msgspec.Struct, frozen=True, kw_only=True):
    """The manifest with slides and windows still raw, so each gets its own reason."""

    version: Version
    issued_ts: Timestamp
    expires_ts: Timestamp
    scope: Scope
    playlist: list[Any]
    schedule: list[Any]
    assets: dict[str, str]
    timezone: str
    offers: dict[str, Any] = {}


def canonical(manifest: Mapping[str, Any]) -> bytes:
    """The bytes that are signed: docs/protocol.md's canonical JSON."""
    return json.dumps(manifest, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()


def manifest_digest(payload: bytes) -> str:
    """SHA-256 (hex) of the canonical JSON of a signed payload's `manifest`: what was signed,
    so central can tell which manifest a device plays whatever the envelope looked like."""
    raw = json.loads(payload)["manifest"]
    return hashlib.sha256(canonical(raw)).hexdigest()


def sign(manifest: dict[str, Any], signing_key_b64: str, kid: str) -> bytes:
    """A manifest payload signed with the raw 32-byte Ed25519 seed `signing_key_b64`."""
    key = SigningKey(base64.b64decode(signing_key_b64, validate=True))
    sig = key.sign(canonical(manifest)).signature
    payload = {"manifest": manifest, "sig": base64.b64encode(sig).decode(), "kid": kid}
    return json.dumps(payload, ensure_ascii=False).encode()


def _check_integers_only(value: Any, where: str = "manifest") -> None:
    """Floats have no single canonical form, so the signed bytes would be ambiguous."""
    if isinstance(value, float):
        raise ValueError(f"{where} is a number with a fraction or exponent; integers only")
    if isinstance(value, dict):
        for key, item in value.items():
            _check_integers_only(item, f"{where}.{key}")
    elif isinstance(value, list):
        for index, item in enumerate(value):
            _check_integers_only(item, f"{where}[{index}]")


def valid_public_key(value: object) -> bool:
    """For the config check: base64 of a raw 32-byte Ed25519 public key."""
    try:
        return isinstance(value, str) and len(base64.b64decode(value, validate=True)) == 32
    except ValueError:  # binascii.Error, or non-ASCII text
        return False


def _public_key(public_keys: Mapping[str, str], kid: str) -> VerifyKey:
    try:
        raw = base64.b64decode(public_keys[kid], validate=True)
        return VerifyKey(raw)
    except (ValueError, TypeError) as exc:
        raise ConfigError(
            f"content public key {kid!r}",
            public_keys[kid],
            "base64 of a raw 32-byte Ed25519 public key",
        ) from exc


def _timezone(name: str) -> ZoneInfo:
    if name == "localtime":  # the device's own setting, not a place
        raise ValueError("timezone 'localtime' is not an IANA name")
    try:
        return ZoneInfo(name)
    except (ValueError, KeyError, OSError) as exc:
        raise ValueError(f"timezone {name!r} is not a known IANA name") from exc


def _content(header: _Header, version: int) -> Manifest:
    """Slides, windows and assets, each checked with the reason it deserves."""

    def reject(reason: str, detail: str, sha256: str | None = None) -> ContentRejected:
        return ContentRejected(reason, detail, manifest_version=version, sha256=sha256)

    try:
        _timezone(header.timezone)
        if header.expires_ts <= header.issued_ts:
            raise ValueError("expires_ts is not after issued_ts")
        if not header.playlist:
            raise ValueError("playlist is empty")
        schedule = [msgspec.convert(w, Window) for w in header.schedule]
    except (msgspec.ValidationError, ValueError) as exc:
        raise reject(reasons.MALFORMED, str(exc)) from exc
    for name, sha in header.assets.items():
        if not safe_name(name):
            raise reject(reasons.BAD_ASSET_NAME, f"asset name {name!r} is not a plain name", sha)
        if not is_sha256(sha):
            raise reject(reasons.MALFORMED, f"asset {name!r} sha256 is not 64 lowercase hex")

    def checked(obj: Any) -> Slide:
        try:
            slide = parse_slide(obj)
        except ContentRejected as exc:
            raise reject(exc.reason, exc.detail) from exc
        for used in slide.assets():
            if used not in header.assets:
                raise reject(reasons.MISSING_ASSET, f"slide {slide.id!r} uses unlisted {used!r}")
        try:
            legible.check(slide)
        except ContentRejected as exc:
            raise reject(exc.reason, exc.detail) from exc
        return slide

    playlist = [checked(obj) for obj in header.playlist]
    offers = {str(segment): checked(obj) for segment, obj in header.offers.items()}
    ids = [slide.id for slide in playlist]
    if len(set(ids)) != len(ids):
        raise reject(reasons.MALFORMED, "slide ids in the playlist are not unique")
    for number, window in enumerate(schedule, 1):
        unknown = [i for i in window.slides if i not in ids]
        if unknown:
            raise reject(
                reasons.MALFORMED, f"window {number} names slides {unknown} not in playlist"
            )
    return Manifest(
        version=header.version,
        issued_ts=header.issued_ts,
        expires_ts=header.expires_ts,
        scope=header.scope,
        playlist=playlist,
        schedule=schedule,
        assets=dict(header.assets),
        timezone=header.timezone,
        offers=offers,
    )


def verify(
    payload: bytes,
    *,
    public_keys: Mapping[str, str],
    store_id: str,
    device_id: str,
    now_ms: int,
    current_version: int | None,
) -> Manifest:
    """The manifest in `payload` if it is for us, signed, current and well formed.

    Otherwise ContentRejected with the reason code. `public_keys` maps kid to a
    base64 raw Ed25519 public key; `current_version` is the version in force for
    the manifest's own scope (store or device), or None if there is none.
    """
    try:
        envelope = open_envelope(payload, "manifest")
    except EnvelopeError as exc:
        raise ContentRejected(reasons.MALFORMED, str(exc), manifest_version=exc.claimed) from exc
    raw, sig, kid, claimed = envelope.body, envelope.sig, envelope.kid, envelope.claimed
    try:
        _check_integers_only(raw)
    except (ValueError, RecursionError) as exc:
        raise ContentRejected(reasons.MALFORMED, str(exc), manifest_version=claimed) from exc

    if kid not in public_keys:
        raise ContentRejected(
            reasons.UNKNOWN_KID, f"no public key with kid {kid!r}", manifest_version=claimed
        )
    try:
        _public_key(public_keys, kid).verify(canonical(raw), sig)
    except (BadSignatureError, ValueError) as exc:  # ValueError: not 64 bytes
        raise ContentRejected(
            reasons.BAD_SIGNATURE,
            f"signature does not verify with kid {kid!r}",
            manifest_version=claimed,
        ) from exc

    try:
        header = msgspec.convert(raw, _Header)
    except msgspec.ValidationError as exc:
        raise ContentRejected(reasons.MALFORMED, str(exc), manifest_version=claimed) from exc
    version = header.version
    scope = header.scope
    if scope.store_id != store_id or scope.device_id not in (None, device_id):
        raise ContentRejected(
            reasons.WRONG_SCOPE,
            f"for store {scope.store_id!r} device {scope.device_id!r}; "
            f"this is store {store_id!r} device {device_id!r}",
            manifest_version=version,
        )
    if header.expires_ts <= now_ms:
        raise ContentRejected(
            reasons.EXPIRED,
            f"expired at {header.expires_ts}, now {now_ms}",
            manifest_version=version,
        )
    if current_version is not None and version <= current_version:
        raise ContentRejected(
            reasons.STALE_VERSION,
            f"version {version} is not above the current {current_version}",
            manifest_version=version,
        )
    return _content(header, version)


def scope_key(manifest: Manifest) -> str:
    """Which slot a manifest fills: "device" (for this screen only) or "store"."""
    return "store" if manifest.scope.device_id is None else "device"


def precedence(
    store_manifest: Manifest | None, device_manifest: Manifest | None, now_ms: int
) -> Manifest | None:
    """The manifest to play: the device's own while unexpired, else the store's while unexpired.

    None means neither is valid any more: play the device's fallback content
    rather than a campaign that has ended.
    """
    for manifest in (device_manifest, store_manifest):
        if manifest is not None and manifest.expires_ts > now_ms:
            return manifest
    return None
