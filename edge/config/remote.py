"""Remote config: a signed overlay central lays on the settings that make sense remotely.

On `P/config` (one device) or `S/config` (every device of the store), retained:

    {"config": {"version": 7, "issued_ts": ..., "expires_ts": ...,
                "scope": {"store_id": "store-1", "device_id": null},
                "settings": {"presence": {"allow_ibeacon_uuids": ["..."]},
                             "log": {"level": "debug"}}},
     "sig": "base64 Ed25519", "kid": "config-2026"}

`sig` is by a key of `[config] public_keys` (never a content key: the config check
refuses a content key there) over the canonical JSON of the `config` value, as for
manifests (docs/protocol.md). An overlay is taken when, in this order, it parses,
its `kid` is configured, the signature verifies, its scope is this store (and this
device, or none on `S/config`), it has not expired, its version is above the last
one taken for its scope, it names only keys in REMOTE_KEYS, and the local config
with the store's and then the device's overlay laid on it passes exactly the config
file's checks (`from_mapping`). Otherwise the previous settings stay.

Identity, broker, TLS files and keys are never remote: they are not in REMOTE_KEYS,
so the local file always decides them.
"""

from __future__ import annotations

import base64
import contextlib
import dataclasses
import hashlib
import json
import typing
from collections.abc import Mapping
from pathlib import Path
from typing import Annotated, Any, Literal

import msgspec
from msgspec import UNSET, Meta, UnsetType
from nacl.exceptions import BadSignatureError
from nacl.signing import SigningKey, VerifyKey

from edge.config.keys import hints_of, keys_of
from edge.config.load import SCHEMA, Config, from_mapping
from edge.config.sections import SECTIONS
from edge.content.manifest import Scope, Timestamp, Version, canonical
from edge.errors import ConfigError, EdgeError
from edge.files import write_atomic
from edge.presence.params import TrackerParams
from edge.signed import EnvelopeError, open_envelope

ScopeName = Literal["store", "device"]

REMOTE_KEYS: Mapping[str, tuple[str, ...]] = {
    "presence": (
        "allow_ibeacon_uuids",
        "allow_eddystone_namespaces",
        "allow_line_hwids",
        *keys_of(TrackerParams),
    ),
    "health": ("interval_s",),
    "log": ("level",),
    "panel": ("timezone", "hours", "exceptions"),
}
"""Settings central may change: presence allow-lists and tracker parameters, the health
interval, the log level, the display schedule (store hours); each applied live
(edge/app/io.py, `_apply_config`). A key not listed here is local only, whatever the
overlay says."""

STATE_FOLDER = "config"
VERSIONS_FILE = "versions.json"


class OverlayRejected(EdgeError):
    """An overlay the device will not use; `reason` is a stable code (docs/protocol.md)."""

    def __init__(
        self,
        reason: str,
        detail: str,
        *,
        key: str | None = None,
        value: Any = None,
        version: int | None = None,
    ) -> None:
        self.reason = reason
        self.detail = detail
        self.key = key
        self.value = value
        self.version = version
        super().__init__(f"{reason}: {detail}")

    def value_text(self) -> str | None:
        """The value at fault as JSON text, cut to 256 characters (for the event)."""
        if self.key is None:
            return None
        text = json.dumps(self.value, ensure_ascii=False, default=str)
        return text if len(text) <= 256 else text[:255] + "…"


# -- the wire (docs/schemas/config.schema.json is generated from these) ---------------------


def _wire_type(section: type, name: str) -> Any:
    """The JSON type of a config key as its section declares it (tuples become lists)."""
    hints = hints_of(section)
    for f in dataclasses.fields(section):
        kind = hints[f.name]
        if dataclasses.is_dataclass(kind) and name in keys_of(kind):  # type: ignore[arg-type]
            return _wire_type(kind, name)  # type: ignore[arg-type]
        if f.name == name:
            if typing.get_origin(kind) is tuple:
                return list[typing.get_args(kind)[0]]  # type: ignore[misc]
            return kind
    raise KeyError(name)


def _settings_struct() -> type[msgspec.Struct]:
    sections = []
    for section, names in REMOTE_KEYS.items():
        cls = SECTIONS[section]
        fields = [
            (
                name,
                Annotated[_wire_type(cls, name), Meta(description=SCHEMA[section][name].allowed)]
                | UnsetType,
                UNSET,
            )
            for name in names
        ]
        table = msgspec.defstruct(
            f"Remote{section.title()}",
            fields,
            kw_only=True,
            frozen=True,
            forbid_unknown_fields=True,
        )
        sections.append((section, table | UnsetType, UNSET))
    return msgspec.defstruct(
        "RemoteSettings", sections, kw_only=True, frozen=True, forbid_unknown_fields=True
    )


RemoteSettings = _settings_struct()


class ConfigOverlay(msgspec.Struct, frozen=True, kw_only=True):
    """Settings laid over the device's own config, for a store or one device."""

    version: Version
    issued_ts: Timestamp
    expires_ts: Annotated[
        int, Meta(ge=0, le=2**63 - 1, description="after this the overlay is no longer used")
    ]
    scope: Scope
    settings: Annotated[
        RemoteSettings,  # type: ignore[valid-type]
        Meta(
            description="tables and keys as in the config file; only these may be remote "
            "(any other key refuses the whole overlay)"
        ),
    ]


class SignedConfig(msgspec.Struct, frozen=True, kw_only=True):
    """`P/config`, `S/config` (retained): a config overlay and its Ed25519 signature."""

    config: ConfigOverlay
    sig: Annotated[
        str,
        Meta(
            min_length=1, description="base64 Ed25519 signature over the canonical JSON of config"
        ),
    ]
    kid: Annotated[
        str, Meta(min_length=1, max_length=64, description="the config signing key's id")
    ]


class _Header(msgspec.Struct, frozen=True, kw_only=True):
    """The overlay with its settings still raw, so each key gets its own reason."""

    version: Version
    issued_ts: Timestamp
    expires_ts: Timestamp
    scope: Scope
    settings: dict[str, Any]


@dataclasses.dataclass(frozen=True)
class Overlay:
    """A verified overlay, and the payload it came in (what is kept on disk)."""

    scope: ScopeName
    store_id: str
    device_id: str | None
    version: int
    expires_ts: int
    settings: dict[str, dict[str, Any]]
    digest: str
    payload: bytes

    def keys(self) -> list[str]:
        return [f"{s}.{k}" for s, table in self.settings.items() for k in table]


# -- checking an overlay -----------------------------------------------------------------------


def _no_exponents(value: Any, where: str) -> None:
    """A number's canonical form is Python's `json.dumps`, which JavaScript shares for
    every number written without an exponent; one with an exponent is ambiguous."""
    if isinstance(value, float) and "e" in repr(value):
        raise ValueError(f"{where} must be written without an exponent")
    if isinstance(value, dict):
        for k, v in value.items():
            _no_exponents(v, f"{where}.{k}")
    elif isinstance(value, list):
        for i, v in enumerate(value):
            _no_exponents(v, f"{where}[{i}]")


def digest(raw: Mapping[str, Any]) -> str:
    return hashlib.sha256(canonical(raw)).hexdigest()


def verify(
    payload: bytes,
    *,
    scope: ScopeName,
    public_keys: Mapping[str, str],
    store_id: str,
    device_id: str,
    now_ms: int,
    highest: int | None,
) -> Overlay:
    """The overlay in `payload` if it is signed by a config key, for us, current, newer
    than `highest` (the last version taken for its scope) and names only remote keys.
    Its values are checked by `effective`. OverlayRejected with the reason otherwise."""
    try:
        envelope = open_envelope(payload, "config")
    except EnvelopeError as exc:
        raise OverlayRejected("malformed", str(exc), version=exc.claimed) from exc
    raw, sig, kid, claimed = envelope.body, envelope.sig, envelope.kid, envelope.claimed
    try:
        _no_exponents(raw, "config")
    except (ValueError, RecursionError) as exc:
        raise OverlayRejected("malformed", str(exc), version=claimed) from exc
    if kid not in public_keys:
        raise OverlayRejected(
            "unknown_kid",
            f"kid {kid!r} is not one of [config] public_keys ({', '.join(public_keys) or 'none'})",
            version=claimed,
        )
    try:
        VerifyKey(base64.b64decode(public_keys[kid])).verify(canonical(raw), sig)
    except (BadSignatureError, ValueError, TypeError) as exc:
        raise OverlayRejected(
            "bad_signature", f"the signature does not verify with key {kid!r}", version=claimed
        ) from exc
    try:
        header = msgspec.convert(raw, _Header)
    except msgspec.ValidationError as exc:
        raise OverlayRejected("malformed", str(exc), version=claimed) from exc
    want_device = device_id if scope == "device" else None
    if header.scope.store_id != store_id or header.scope.device_id != want_device:
        raise OverlayRejected(
            "wrong_scope",
            f"for store {header.scope.store_id!r} device {header.scope.device_id!r}; "
            f"this is store {store_id!r} device {device_id!r} ({scope} overlay)",
            version=header.version,
        )
    if header.expires_ts <= now_ms:
        raise OverlayRejected(
            "expired", f"it expired at {header.expires_ts} (ms)", version=header.version
        )
    if highest is not None and header.version <= highest:
        raise OverlayRejected(
            "stale_version",
            f"version {header.version} is not above {highest}, the last taken for the {scope}",
            version=header.version,
        )
    settings = _remote_settings(header.settings, header.version)
    return Overlay(
        scope,
        header.scope.store_id,
        header.scope.device_id,
        header.version,
        header.expires_ts,
        settings,
        digest(raw),
        bytes(payload),
    )


def _remote_settings(settings: dict[str, Any], version: int) -> dict[str, dict[str, Any]]:
    out: dict[str, dict[str, Any]] = {}
    for section, table in settings.items():
        if section not in SCHEMA:
            raise OverlayRejected(
                "unknown_key", f"no config table [{section}]", key=section, value=table,
                version=version,
            )  # fmt: skip
        if not isinstance(table, dict):
            raise OverlayRejected(
                "malformed", f"settings.{section} is not a table", version=version
            )
        for name, value in table.items():
            key = f"{section}.{name}"
            if name not in SCHEMA[section]:
                raise OverlayRejected(
                    "unknown_key", f"no config key {key}", key=key, value=value, version=version
                )
            if name not in REMOTE_KEYS.get(section, ()):
                raise OverlayRejected(
                    "not_remote",
                    f"{key} is set only by the device's own config file",
                    key=key,
                    value=value,
                    version=version,
                )
        out[section] = dict(table)
    return out


def effective(local: Config, *overlays: Overlay | None) -> Config:
    """`local` with the overlays laid on in order (store, then device: the device's own
    wins), checked with exactly the config file's rules. OverlayRejected (`invalid_value`,
    naming the key and value) when a value is not allowed; blamed on the last overlay."""
    tables = local.tables()
    last: Overlay | None = None
    for overlay in overlays:
        if overlay is None:
            continue
        last = overlay
        for section, table in overlay.settings.items():
            tables.setdefault(section, {}).update(table)
    if last is None:
        return local
    try:
        return from_mapping(tables, local.source)
    except ConfigError as exc:
        raise OverlayRejected(
            "invalid_value",
            f"{exc.key}: allowed: {exc.allowed}",
            key=exc.key,
            value=exc.value,
            version=last.version,
        ) from exc


# -- signing (omo-ops config push, tests) --------------------------------------------------


def sign(overlay: Mapping[str, Any], signing_key_b64: str, kid: str) -> bytes:
    """An overlay payload signed with the raw 32-byte Ed25519 seed `signing_key_b64`."""
    key = SigningKey(base64.b64decode(signing_key_b64, validate=True))
    sig = key.sign(canonical(overlay)).signature
    payload = {"config": overlay, "sig": base64.b64encode(sig).decode(), "kid": kid}
    return json.dumps(payload, ensure_ascii=False).encode()


# -- kept across restarts --------------------------------------------------------------------


def folder(state_dir: Path) -> Path:
    return state_dir / STATE_FOLDER


def save(state_dir: Path, overlay: Overlay, highest: Mapping[str, int]) -> None:
    """The overlay's payload as received, then the versions taken (so none goes back)."""
    write_atomic(folder(state_dir) / f"{overlay.scope}.json", overlay.payload)
    save_versions(state_dir, highest)


def save_versions(state_dir: Path, highest: Mapping[str, int]) -> None:
    write_atomic(folder(state_dir) / VERSIONS_FILE, json.dumps(dict(highest)).encode())


def drop(state_dir: Path, scope: ScopeName) -> None:
    with contextlib.suppress(FileNotFoundError):
        (folder(state_dir) / f"{scope}.json").unlink()


def load(state_dir: Path) -> tuple[dict[ScopeName, bytes], dict[str, int]]:
    """Saved payloads by scope, and the highest versions taken."""
    payloads: dict[ScopeName, bytes] = {}
    for scope in typing.get_args(ScopeName):
        with contextlib.suppress(FileNotFoundError):
            payloads[scope] = (folder(state_dir) / f"{scope}.json").read_bytes()
    highest: dict[str, int] = {}
    try:
        loaded = json.loads((folder(state_dir) / VERSIONS_FILE).read_bytes())
        if isinstance(loaded, dict):
            highest = {k: v for k, v in loaded.items() if isinstance(v, int)}
    except (FileNotFoundError, ValueError):
        pass
    return payloads, highest
