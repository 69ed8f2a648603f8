"""The config sections: one frozen dataclass per TOML table (mirrored in config/edge.example.toml).

Each field is a key: its type, its default, the words that say what is allowed,
and a check. Cross-key rules (near_m below exit_m, rotate_s within accept_s, ...)
are in edge/config/load.py.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Literal

from edge.config.keys import DURATION_WORDS, Check, key, positive_duration
from edge.content.manifest import valid_public_key
from edge.panel.schedule import valid_exceptions, valid_hours, valid_zone
from edge.presence.params import TrackerParams

ID_WORDS = "empty, or up to 64 letters, digits, '-', '_', '.'"
LOG_LEVELS = ("debug", "info", "warning", "error")


def _id(value: str) -> bool:
    """Empty (not provisioned yet) or a topic-safe id."""
    return len(value) <= 64 and all((c.isascii() and c.isalnum()) or c in "-_." for c in value)


def _between(low: float, high: float) -> Check:
    return lambda v: low <= v <= high


def _zero_or_at_least(low: float) -> Check:
    return lambda v: v == 0 or v >= low


@dataclass(frozen=True, slots=True)
class DeviceConfig:
    store_id: str = key("", ID_WORDS, _id)
    device_id: str = key("", ID_WORDS, _id)


@dataclass(frozen=True, slots=True)
class MqttConfig:
    host: str = key("", 'a host name, an IP address, or "auto" (mDNS _mqtt._tcp, TLS only)')
    port: int = key(1883, "an integer 1-65535", lambda v: 0 < v < 65536)
    prefix: str = key(
        "omo/v1",
        "a topic prefix without wildcards or leading/trailing '/'",
        lambda v: bool(v) and not set(v) & {"#", "+"} and v.strip("/") == v,
    )
    username: str = key("", "a string")
    password: str = key("", "a string", secret=True)
    tls_ca: str = key("", "a path to a PEM CA file, or empty for no TLS")
    tls_cert: str = key("", "a path to a PEM client certificate, or empty")
    tls_key: str = key("", "a path to a PEM private key, or empty")
    keepalive_s: int = key(30, "an integer 5-600", _between(5, 600))
    session_expiry_s: int = key(604_800, "an integer 0-4294967295", _between(0, 0xFFFFFFFF))
    decide_timeout_ms: int = key(800, "an integer 50-10000", _between(50, 10_000))
    hosts: tuple[str, ...] = key(
        [], "a list of host names or IP addresses (a clustered broker's nodes), or []"
    )
    reconnect_base_s: float = key(1.0, "a number of seconds 0.1-60", _between(0.1, 60))
    reconnect_cap_s: float = key(30.0, "a number of seconds 1-3600", _between(1, 3600))
    renew_before: str = key("30d", DURATION_WORDS, positive_duration)
    renew_retry: str = key("1h", DURATION_WORDS, positive_duration)


@dataclass(frozen=True, slots=True)
class PresenceConfig:
    source: str = key(
        "bleak",
        '"bleak" or "replay:PATH"',
        lambda v: v == "bleak" or (v.startswith("replay:") and len(v) > 7),
    )
    replay_speed: float = key(1.0, "a number >= 0 (0: as fast as possible)", lambda v: v >= 0)
    replay_loop: bool = key(False, "true or false")
    adapter: str = key("", "a Bluetooth adapter name such as hci0, or empty for the default")
    scanning_mode: Literal["active", "passive"] = key(
        "active",
        '"active" or "passive" (passive needs bluetoothd --experimental)',
        lambda v: v in ("active", "passive"),
    )
    allow_ibeacon_uuids: tuple[str, ...] = key([], "a list of iBeacon UUIDs (empty: all)")
    allow_eddystone_namespaces: tuple[str, ...] = key(
        [], "a list of 20-hex-digit namespaces (empty: all)"
    )
    allow_line_hwids: tuple[str, ...] = key(
        [], "a list of 10-hex-digit LINE hardware ids (empty: all)"
    )
    tracker: TrackerParams = TrackerParams()  # noqa: RUF009 - frozen; its keys sit in [presence]


@dataclass(frozen=True, slots=True)
class DisplayConfig:
    headless: bool = key(False, "true or false")
    fullscreen: bool = key(True, "true or false")
    width: int = key(1920, "an integer 0-7680 (0: the screen's own size)", _between(0, 7680))
    height: int = key(1080, "an integer 0-4320 (0: the screen's own size)", _between(0, 4320))
    rotation: int = key(0, "0, 90, 180 or 270", lambda v: v in (0, 90, 180, 270))
    fps: int = key(30, "an integer 1-120", _between(1, 120))
    stall_s: float = key(10.0, "a number of seconds 1-600", _between(1, 600))
    screenshot_dir: str = key("", "a folder path, or empty for no screenshots")


@dataclass(frozen=True, slots=True)
class PanelConfig:
    timezone: str = key(
        "", "an IANA time zone such as Europe/Berlin, or empty for the system's", valid_zone
    )
    hours: Mapping[str, str] = key(
        {},
        'a table of mon..sun = "HH:MM-HH:MM[, ...]" or "closed" (empty: always on)',
        valid_hours,
    )
    exceptions: Mapping[str, str] = key(
        {}, 'a table of "YYYY-MM-DD" = "HH:MM-HH:MM[, ...]" or "closed"', valid_exceptions
    )
    method: Literal["auto", "cec", "dpms", "none"] = key(
        "auto", '"auto", "cec", "dpms" or "none"', lambda v: v in ("auto", "cec", "dpms", "none")
    )
    cec_device: str = key("/dev/cec0", "a CEC device path")
    cec_ctl: str = key("cec-ctl", "the cec-ctl program (a name on PATH or a path)", bool)
    fb_device: str = key("/dev/fb0", "a framebuffer device path")
    sysfs_root: str = key("/sys", "the sysfs mount point (tests: a fake tree)", bool)
    check_s: float = key(2.0, "a number of seconds 0.05-60", _between(0.05, 60))
    hotplug_grace_s: float = key(20.0, "a number of seconds 0-600", _between(0, 600))


@dataclass(frozen=True, slots=True)
class StorageConfig:
    path: str = key(
        "/var/lib/omo-edge/outbox.sqlite3", "a file path; its folder is the state dir", bool
    )
    max_events: int = key(
        1_000_000, "an integer >= 1000, or 0 for no limit", _zero_or_at_least(1000)
    )
    max_bytes: int = key(
        512 * 1024 * 1024,
        "an integer >= 1048576, or 0 for no limit",
        _zero_or_at_least(1024 * 1024),
    )
    group_ms: int = key(50, "an integer 0-50 (0: a transaction per event)", _between(0, 50))
    group_max: int = key(100, "an integer 1-100", _between(1, 100))
    hold_s: float = key(
        120.0, "a number of seconds 0-300 (0: commit within group_ms)", _between(0, 300)
    )
    memory_max: int = key(10_000, "an integer 100-1000000", _between(100, 1_000_000))


@dataclass(frozen=True, slots=True)
class SyncConfig:
    batch_max_events: int = key(200, "an integer 1-10000", _between(1, 10_000))
    batch_max_bytes: int = key(64_000, "an integer 1024-262144", _between(1024, 262_144))
    ack_timeout_s: float = key(10.0, "a number 0.1-600", _between(0.1, 600))


PUBLIC_KEYS_WORDS = "a table of kid = base64 Ed25519 public key"


@dataclass(frozen=True, slots=True)
class ContentConfig:
    default_dir: str = key("", "a folder with playlist.json, or empty for the shipped one")
    public_keys: Mapping[str, str] = key({}, PUBLIC_KEYS_WORDS)
    cache_bytes: int = key(2 * 1024**3, "an integer >= 1048576", lambda v: v >= 1024 * 1024)
    max_asset_bytes: int = key(200 * 1024**2, "an integer 1024-4294967296", _between(1024, 2**32))
    max_image_pixels: int = key(40_000_000, "an integer 1-500000000", _between(1, 500_000_000))


@dataclass(frozen=True, slots=True)
class CheckinConfig:
    base_url: str = key(
        "https://example.invalid/checkin",
        "an http(s) URL",
        lambda v: v.startswith(("https://", "http://")),
    )
    accept_s: float = key(120.0, "a number of seconds 10-3600", _between(10, 3600))
    rotate_s: float = key(60.0, "a number of seconds 5-3600, at most accept_s", _between(5, 3600))
    lan_address: str = key(
        "", "an IPv4 address of this device to listen on, or empty for no LAN check-in"
    )
    lan_port: int = key(8787, "an integer 0-65535 (0: any free port)", _between(0, 65535))
    public_keys: Mapping[str, str] = key(
        {}, f"{PUBLIC_KEYS_WORDS} (the platform's visitor-token keys)"
    )


@dataclass(frozen=True, slots=True)
class PersonalizeConfig:
    cooldown_s: float = key(30.0, "a number of seconds 0-3600", _between(0, 3600))
    max_in_flight: int = key(8, "an integer 1-100", _between(1, 100))
    personal_share_max: float = key(0.5, "a number 0-1", _between(0, 1))


@dataclass(frozen=True, slots=True)
class HealthConfig:
    interval_s: float = key(300.0, "a number of seconds >= 1, or 0 for never", _zero_or_at_least(1))


@dataclass(frozen=True, slots=True)
class UpdateConfig:
    release_public_key: str = key(
        "",
        "empty (updates refused), or base64 of a raw 32-byte Ed25519 public key",
        lambda v: v == "" or valid_public_key(v),
    )
    allow_file_urls: bool = key(False, "true or false (file:// update URLs; tests only)")
    max_bytes: int = key(64 << 20, "an integer 1024-1073741824", _between(1024, 1 << 30))


@dataclass(frozen=True, slots=True)
class ProvisionConfig:
    interfaces: tuple[str, ...] = key(
        [],
        "a list of IPv4 addresses or interface names (empty: no discovery, no pairing)",
        lambda v: all(isinstance(i, str) and i for i in v),
    )
    pair_port: int = key(8788, "an integer 0-65535 (0: any free port)", _between(0, 65535))
    max_attempts: int = key(5, "an integer 1-20", _between(1, 20))
    lock_s: float = key(30.0, "a number of seconds 0.1-3600", _between(0.1, 3600))
    message_timeout_s: float = key(30.0, "a number of seconds 1-600", _between(1, 600))
    bundle_timeout_s: float = key(600.0, "a number of seconds 1-86400", _between(1, 86400))


@dataclass(frozen=True, slots=True)
class PrivacyConfig:
    visitor_keys: Mapping[str, str] = key(
        {}, "a table of kid = base64 key (16+ bytes, 32 advised; from the platform)", secret=True
    )
    visitor_kid: str = key("", "empty (the only key), or a kid of privacy.visitor_keys")
    pseudonymize: bool = key(True, "true or false")
    event_retention_days: int = key(30, "an integer 1-3650", _between(1, 3650))


@dataclass(frozen=True, slots=True)
class LogConfig:
    level: Literal["debug", "info", "warning", "error"] = key(
        "info", "debug, info, warning or error", lambda v: v in LOG_LEVELS
    )


@dataclass(frozen=True, slots=True)
class OverlayConfig:
    """`[config]`: remote config overlays (`P/config`, `S/config`; edge/config/remote.py)."""

    public_keys: Mapping[str, str] = key(
        {}, f"{PUBLIC_KEYS_WORDS} (config signing keys, never a content key)"
    )


SECTIONS: dict[str, type] = {
    "device": DeviceConfig,
    "mqtt": MqttConfig,
    "presence": PresenceConfig,
    "display": DisplayConfig,
    "panel": PanelConfig,
    "storage": StorageConfig,
    "sync": SyncConfig,
    "content": ContentConfig,
    "checkin": CheckinConfig,
    "personalize": PersonalizeConfig,
    "health": HealthConfig,
    "update": UpdateConfig,
    "provision": ProvisionConfig,
    "privacy": PrivacyConfig,
    "log": LogConfig,
    "config": OverlayConfig,
}
"""TOML table name → section class, in the order of config/edge.example.toml."""
