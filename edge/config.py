"""TOML configuration: one table of keys (mirrored in config/edge.example.toml).

A present but invalid value is a ConfigError naming the key, the value and
what is allowed; an unknown key is a warning; missing store, device or broker
means an unprovisioned device, which still plays fallback content.
"""

from __future__ import annotations

import logging
import tomllib
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any

from edge.content.manifest import valid_public_key
from edge.errors import ConfigError, ConfigFileError
from edge.link.tls import check_mqtt
from edge.presence.allow import AllowList, InvalidAllowEntry
from edge.presence.pseudonym import PseudonymSettingsError
from edge.presence.pseudonym import from_settings as pseudonymizer_from_settings
from edge.presence.tracker import TrackerParams

log = logging.getLogger(__name__)

DEFAULT_CONTENT_DIR = Path(__file__).resolve().parent.parent / "signage_content"


def _id(value: object) -> bool:
    """Empty (not provisioned yet) or a topic-safe id."""
    return (
        isinstance(value, str)
        and len(value) <= 64
        and all((c.isascii() and c.isalnum()) or c in "-_." for c in value)
    )


@dataclass(frozen=True)
class Key:
    """One config key: its type, default, a check and the words that say what is allowed."""

    type: type | tuple[type, ...]
    default: Any
    allowed: str
    check: Callable[[Any], bool] = lambda _v: True


def _positive(v: Any) -> bool:
    return bool(v > 0)


SCHEMA: dict[str, dict[str, Key]] = {
    "device": {
        "store_id": Key(str, "", "empty, or up to 64 letters, digits, '-', '_', '.'", _id),
        "device_id": Key(str, "", "empty, or up to 64 letters, digits, '-', '_', '.'", _id),
    },
    "mqtt": {
        "host": Key(str, "", 'a host name, an IP address, or "auto" (mDNS _mqtt._tcp, TLS only)'),
        "port": Key(int, 1883, "an integer 1-65535", lambda v: 0 < v < 65536),
        "prefix": Key(
            str,
            "omo/v1",
            "a topic prefix without wildcards or leading/trailing '/'",
            lambda v: bool(v) and not set(v) & {"#", "+"} and v.strip("/") == v,
        ),
        "username": Key(str, "", "a string"),
        "password": Key(str, "", "a string"),
        "tls_ca": Key(str, "", "a path to a PEM CA file, or empty for no TLS"),
        "tls_cert": Key(str, "", "a path to a PEM client certificate, or empty"),
        "tls_key": Key(str, "", "a path to a PEM private key, or empty"),
        "keepalive_s": Key(int, 30, "an integer 5-600", lambda v: 5 <= v <= 600),
        "session_expiry_s": Key(
            int, 604_800, "an integer 0-4294967295", lambda v: 0 <= v <= 0xFFFFFFFF
        ),
        "decide_timeout_ms": Key(int, 800, "an integer 50-10000", lambda v: 50 <= v <= 10_000),
    },
    "presence": {
        "source": Key(
            str,
            "bleak",
            '"bleak" or "replay:PATH"',
            lambda v: v == "bleak" or (v.startswith("replay:") and len(v) > 7),
        ),
        "replay_speed": Key(
            (int, float), 1.0, "a number >= 0 (0: as fast as possible)", lambda v: v >= 0
        ),
        "replay_loop": Key(bool, False, "true or false"),
        "adapter": Key(str, "", "a Bluetooth adapter name such as hci0, or empty for the default"),
        "scanning_mode": Key(
            str,
            "active",
            '"active" or "passive" (passive needs bluetoothd --experimental)',
            lambda v: v in ("active", "passive"),
        ),
        "allow_ibeacon_uuids": Key(list, [], "a list of iBeacon UUIDs (empty: all)"),
        "allow_eddystone_namespaces": Key(
            list, [], "a list of 20-hex-digit namespaces (empty: all)"
        ),
        "allow_line_hwids": Key(list, [], "a list of 10-hex-digit LINE hardware ids (empty: all)"),
        **{
            f.name: Key((int, float), f.default, "a positive number", _positive)
            for f in fields(TrackerParams)
            if f.name != "body_loss_db"
        },
        "body_loss_db": Key(
            (int, float), TrackerParams().body_loss_db, "a number 0-20", lambda v: 0 <= v <= 20
        ),
    },
    "display": {
        "headless": Key(bool, False, "true or false"),
        "fullscreen": Key(bool, True, "true or false"),
        "width": Key(
            int, 1920, "an integer 0-7680 (0: the screen's own size)", lambda v: 0 <= v <= 7680
        ),
        "height": Key(
            int, 1080, "an integer 0-4320 (0: the screen's own size)", lambda v: 0 <= v <= 4320
        ),
        "rotation": Key(int, 0, "0, 90, 180 or 270", lambda v: v in (0, 90, 180, 270)),
        "fps": Key(int, 30, "an integer 1-120", lambda v: 1 <= v <= 120),
        "stall_s": Key((int, float), 10, "a number of seconds 1-600", lambda v: 1 <= v <= 600),
        "screenshot_dir": Key(str, "", "a folder path, or empty for no screenshots"),
    },
    "storage": {
        "path": Key(
            str,
            "/var/lib/omo-edge/outbox.sqlite3",
            "a file path; its folder is the state dir",
            bool,
        ),
        "max_events": Key(
            int, 1_000_000, "an integer >= 1000, or 0 for no limit", lambda v: v == 0 or v >= 1000
        ),
        "max_bytes": Key(
            int,
            512 * 1024 * 1024,
            "an integer >= 1048576, or 0 for no limit",
            lambda v: v == 0 or v >= 1024 * 1024,
        ),
        "group_ms": Key(
            int, 50, "an integer 0-50 (0: a transaction per event)", lambda v: 0 <= v <= 50
        ),
        "group_max": Key(int, 100, "an integer 1-100", lambda v: 1 <= v <= 100),
        "memory_max": Key(int, 10_000, "an integer 100-1000000", lambda v: 100 <= v <= 1_000_000),
    },
    "sync": {
        "batch_max_events": Key(int, 200, "an integer 1-10000", lambda v: 1 <= v <= 10_000),
        "batch_max_bytes": Key(
            int, 64_000, "an integer 1024-262144", lambda v: 1024 <= v <= 262_144
        ),
        "ack_timeout_s": Key((int, float), 10.0, "a number 0.1-600", lambda v: 0.1 <= v <= 600),
    },
    "content": {
        "default_dir": Key(str, "", "a folder with playlist.json, or empty for the shipped one"),
        "public_keys": Key(dict, {}, "a table of kid = base64 Ed25519 public key"),
        "cache_bytes": Key(int, 2 * 1024**3, "an integer >= 1048576", lambda v: v >= 1024 * 1024),
        "max_asset_bytes": Key(
            int, 200 * 1024**2, "an integer 1024-4294967296", lambda v: 1024 <= v <= 2**32
        ),
        "max_image_pixels": Key(
            int, 40_000_000, "an integer 1-500000000", lambda v: 1 <= v <= 500_000_000
        ),
    },
    "checkin": {
        "base_url": Key(
            str,
            "https://example.invalid/checkin",
            "an http(s) URL",
            lambda v: v.startswith(("https://", "http://")),
        ),
        "accept_s": Key(
            (int, float), 120, "a number of seconds 10-3600", lambda v: 10 <= v <= 3600
        ),
        "rotate_s": Key(
            (int, float),
            60,
            "a number of seconds 5-3600, at most accept_s",
            lambda v: 5 <= v <= 3600,
        ),
        "lan_address": Key(
            str, "", "an IPv4 address of this device to listen on, or empty for no LAN check-in"
        ),
        "lan_port": Key(
            int, 8787, "an integer 0-65535 (0: any free port)", lambda v: 0 <= v <= 65535
        ),
        "public_keys": Key(
            dict,
            {},
            "a table of kid = base64 Ed25519 public key (the platform's visitor-token keys)",
        ),
    },
    "personalize": {
        "cooldown_s": Key((int, float), 30, "a number of seconds 0-3600", lambda v: 0 <= v <= 3600),
        "max_in_flight": Key(int, 8, "an integer 1-100", lambda v: 1 <= v <= 100),
    },
    "health": {
        "interval_s": Key(
            (int, float),
            300,
            "a number of seconds >= 1, or 0 for never",
            lambda v: v == 0 or v >= 1,
        ),
    },
    "update": {
        "release_public_key": Key(
            str,
            "",
            "empty (updates refused), or base64 of a raw 32-byte Ed25519 public key",
            lambda v: v == "" or valid_public_key(v),
        ),
        "allow_file_urls": Key(bool, False, "true or false (file:// update URLs; tests only)"),
        "max_bytes": Key(
            int, 64 << 20, "an integer 1024-1073741824", lambda v: 1024 <= v <= 1 << 30
        ),
    },
    "provision": {
        "interfaces": Key(
            list,
            [],
            "a list of IPv4 addresses or interface names (empty: no discovery, no pairing)",
            lambda v: all(isinstance(i, str) and i for i in v),
        ),
        "pair_port": Key(
            int, 8788, "an integer 0-65535 (0: any free port)", lambda v: 0 <= v <= 65535
        ),
        "max_attempts": Key(int, 5, "an integer 1-20", lambda v: 1 <= v <= 20),
        "lock_s": Key((int, float), 30, "a number of seconds 0.1-3600", lambda v: 0.1 <= v <= 3600),
        "message_timeout_s": Key(
            (int, float), 30, "a number of seconds 1-600", lambda v: 1 <= v <= 600
        ),
        "bundle_timeout_s": Key(
            (int, float), 600, "a number of seconds 1-86400", lambda v: 1 <= v <= 86400
        ),
    },
    "privacy": {
        "visitor_keys": Key(
            dict, {}, "a table of kid = base64 key (16+ bytes, 32 advised; from the platform)"
        ),
        "visitor_kid": Key(str, "", "empty (the only key), or a kid of privacy.visitor_keys"),
        "pseudonymize": Key(bool, True, "true or false"),
        "event_retention_days": Key(int, 30, "an integer 1-3650", lambda v: 1 <= v <= 3650),
    },
    "log": {
        "level": Key(
            str,
            "info",
            "debug, info, warning or error",
            lambda v: v in ("debug", "info", "warning", "error"),
        ),
    },
}


@dataclass(frozen=True)
class Config:
    """Validated settings: `values[section][key]`, every key present (defaults filled in)."""

    values: Mapping[str, Mapping[str, Any]]
    source: Path | None = None
    warnings: tuple[str, ...] = field(default=())

    def __getitem__(self, section: str) -> Mapping[str, Any]:
        return self.values[section]

    @property
    def provisioned(self) -> bool:
        """Store id, device id and broker are all known: the device may talk to central."""
        d, m = self.values["device"], self.values["mqtt"]
        return bool(d["store_id"] and d["device_id"] and m["host"])

    @property
    def state_dir(self) -> Path:
        return Path(self.values["storage"]["path"]).parent

    @property
    def content_dir(self) -> Path:
        """The fallback content folder (`signage_content/` unless configured)."""
        return Path(self.values["content"]["default_dir"] or DEFAULT_CONTENT_DIR)

    @property
    def allow_list(self) -> AllowList:
        return allow_list(self.values["presence"])

    @property
    def tracker_params(self) -> TrackerParams:
        p = self.values["presence"]
        return TrackerParams(**{f.name: float(p[f.name]) for f in fields(TrackerParams)})

    def with_overrides(self, overrides: Mapping[str, Mapping[str, Any]]) -> Config:
        """A copy with some values replaced (validated like file values)."""
        merged = {s: dict(v) for s, v in self.values.items()}
        for section, keys in overrides.items():
            merged.setdefault(section, {}).update(keys)
        return from_mapping(merged, self.source)


def allow_list(presence: Mapping[str, Any]) -> AllowList:
    """The beacon allow-list of a validated `[presence]` table."""
    try:
        return AllowList.from_lists(
            presence["allow_ibeacon_uuids"],
            presence["allow_eddystone_namespaces"],
            presence["allow_line_hwids"],
        )
    except InvalidAllowEntry as exc:
        raise ConfigError(f"presence.allow_{exc.list_name}", exc.entry, exc.allowed) from exc


def _check(section: str, key: str, spec: Key, value: Any) -> Any:
    name = f"{section}.{key}"
    types = spec.type if isinstance(spec.type, tuple) else (spec.type,)
    if isinstance(value, bool) and bool not in types:
        raise ConfigError(name, value, spec.allowed)
    if not isinstance(value, types):
        raise ConfigError(name, value, spec.allowed)
    try:
        ok = spec.check(value)
    except (TypeError, ValueError):
        ok = False
    if not ok:
        raise ConfigError(name, value, spec.allowed)
    return value


def from_mapping(data: Mapping[str, Any], source: Path | None = None) -> Config:
    """Validate a parsed TOML document against SCHEMA."""
    values: dict[str, dict[str, Any]] = {}
    warnings: list[str] = []
    for section, value in data.items():
        if section not in SCHEMA:
            warnings.append(f"unknown config section [{section}] ignored")
        elif not isinstance(value, dict):
            raise ConfigError(section, value, "a table")
    for section, keys in SCHEMA.items():
        given = data.get(section, {})
        values[section] = {}
        for key, spec in keys.items():
            if key in given:
                values[section][key] = _check(section, key, spec, given[key])
            else:
                values[section][key] = spec.default
        for key in given:
            if key not in keys:
                warnings.append(f"unknown config key {section}.{key} ignored")
    p = values["presence"]
    if not p["immediate_m"] < p["near_m"] <= p["exit_m"]:
        raise ConfigError(
            "presence.near_m",
            p["near_m"],
            f"above presence.immediate_m ({p['immediate_m']}) and at most presence.exit_m "
            f"({p['exit_m']})",
        )
    allow_list(values["presence"])  # raises ConfigError naming the bad entry
    for section in ("content", "checkin"):
        for kid, pub in values[section]["public_keys"].items():
            if not valid_public_key(pub):
                raise ConfigError(
                    f"{section}.public_keys.{kid}",
                    pub,
                    "base64 of a raw 32-byte Ed25519 public key",
                )
    m = values["mqtt"]
    if m["host"] == "auto" and not m["tls_ca"]:
        raise ConfigError(
            "mqtt.host", "auto", "a broker found by mDNS only with TLS (set mqtt.tls_ca)"
        )
    ck = values["checkin"]
    if ck["rotate_s"] > ck["accept_s"]:
        raise ConfigError(
            "checkin.rotate_s", ck["rotate_s"], f"at most checkin.accept_s ({ck['accept_s']})"
        )
    warnings += check_mqtt(values["mqtt"], values["device"]["device_id"])  # TLS files, host
    try:
        pseudonymizer_from_settings(values["privacy"])
    except PseudonymSettingsError as exc:
        raise ConfigError(f"privacy.{exc.key}", exc.value, exc.allowed) from exc
    for w in warnings:
        log.warning("%s", w)
    return Config(values, source, tuple(warnings))


def load(path: Path | None) -> Config:
    """Read and validate `path`; None gives the defaults (an unprovisioned device)."""
    if path is None:
        return from_mapping({})
    try:
        with path.open("rb") as fh:
            data = tomllib.load(fh)
    except FileNotFoundError as exc:
        raise ConfigFileError(f"config file {path} does not exist") from exc
    except PermissionError as exc:
        raise ConfigFileError(f"config file {path} cannot be read (permission denied)") from exc
    except tomllib.TOMLDecodeError as exc:
        raise ConfigFileError(f"config file {path} is not valid TOML: {exc}") from exc
    except UnicodeDecodeError as exc:  # TOML is UTF-8; tomllib lets this through
        raise ConfigFileError(f"config file {path} is not UTF-8 text: {exc.reason}") from exc
    return from_mapping(data, path)
