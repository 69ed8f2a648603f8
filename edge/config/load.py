"""Reading and validating the TOML config: the typed `Config` every part of the device reads.

A present but invalid value is a ConfigError naming the key, the value and
what is allowed; an unknown key is a warning; missing store, device or broker
means an unprovisioned device, which still plays fallback content.
"""

from __future__ import annotations

import dataclasses
import logging
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from edge.config.keys import Key, as_table, build, keys_of
from edge.config.sections import (
    SECTIONS,
    CheckinConfig,
    ContentConfig,
    DeviceConfig,
    DisplayConfig,
    HealthConfig,
    LogConfig,
    MqttConfig,
    OverlayConfig,
    PanelConfig,
    PersonalizeConfig,
    PresenceConfig,
    PrivacyConfig,
    ProvisionConfig,
    StorageConfig,
    SyncConfig,
    UpdateConfig,
)
from edge.content.manifest import valid_public_key
from edge.errors import ConfigError, ConfigFileError
from edge.link.tls import check_mqtt
from edge.presence.allow import AllowList, InvalidAllowEntry
from edge.presence.params import TrackerParams
from edge.presence.pseudonym import PseudonymSettingsError
from edge.presence.pseudonym import from_settings as pseudonymizer_from_settings

log = logging.getLogger("edge.config")

DEFAULT_CONTENT_DIR = Path(__file__).resolve().parent.parent.parent / "signage_content"

SCHEMA: dict[str, Mapping[str, Key]] = {name: keys_of(cls) for name, cls in SECTIONS.items()}
"""Every key of every table, with its type, default and allowed words."""


@dataclass(frozen=True)
class Config:
    """Validated settings, one typed section per TOML table (defaults filled in)."""

    device: DeviceConfig = field(default_factory=DeviceConfig)
    mqtt: MqttConfig = field(default_factory=MqttConfig)
    presence: PresenceConfig = field(default_factory=PresenceConfig)
    display: DisplayConfig = field(default_factory=DisplayConfig)
    panel: PanelConfig = field(default_factory=PanelConfig)
    storage: StorageConfig = field(default_factory=StorageConfig)
    sync: SyncConfig = field(default_factory=SyncConfig)
    content: ContentConfig = field(default_factory=ContentConfig)
    checkin: CheckinConfig = field(default_factory=CheckinConfig)
    personalize: PersonalizeConfig = field(default_factory=PersonalizeConfig)
    health: HealthConfig = field(default_factory=HealthConfig)
    update: UpdateConfig = field(default_factory=UpdateConfig)
    provision: ProvisionConfig = field(default_factory=ProvisionConfig)
    privacy: PrivacyConfig = field(default_factory=PrivacyConfig)
    log: LogConfig = field(default_factory=LogConfig)
    config: OverlayConfig = field(default_factory=OverlayConfig)
    source: Path | None = None
    warnings: tuple[str, ...] = field(default=())

    @property
    def provisioned(self) -> bool:
        """Store id, device id and broker are all known: the device may talk to central."""
        broker = self.mqtt.host or self.mqtt.hosts
        return bool(self.device.store_id and self.device.device_id and broker)

    @property
    def state_dir(self) -> Path:
        return Path(self.storage.path).parent

    @property
    def outbox_path(self) -> Path:
        return Path(self.storage.path)

    @property
    def content_dir(self) -> Path:
        """The fallback content folder (`signage_content/` unless configured)."""
        return Path(self.content.default_dir or DEFAULT_CONTENT_DIR)

    @property
    def allow_list(self) -> AllowList:
        return allow_list(self.presence)

    @property
    def tracker_params(self) -> TrackerParams:
        return self.presence.tracker

    def tables(self) -> dict[str, dict[str, Any]]:
        """The settings as plain TOML tables (what a config file with every key would hold)."""
        return {name: as_table(getattr(self, name)) for name in SECTIONS}

    def with_overrides(self, overrides: Mapping[str, Mapping[str, Any]]) -> Config:
        """A copy with some values replaced (validated like file values)."""
        merged = self.tables()
        for section, keys in overrides.items():
            merged.setdefault(section, {}).update(keys)
        return from_mapping(merged, self.source)

    def describe(self) -> str:
        """Which config is in effect and where state goes, for the first log line."""
        where = f"config {self.source}" if self.source else "built-in defaults (no --config)"
        return f"{where}; state in {self.state_dir}"


def allow_list(presence: PresenceConfig) -> AllowList:
    """The beacon allow-list of a validated `[presence]` section."""
    try:
        return AllowList.from_lists(
            presence.allow_ibeacon_uuids,
            presence.allow_eddystone_namespaces,
            presence.allow_line_hwids,
        )
    except InvalidAllowEntry as exc:
        raise ConfigError(f"presence.allow_{exc.list_name}", exc.entry, exc.allowed) from exc


def from_mapping(data: Mapping[str, Any], source: Path | None = None) -> Config:
    """Validate a parsed TOML document (or overlay) against the sections."""
    warnings: list[str] = []
    sections: dict[str, Any] = {}
    for name, value in data.items():
        if name not in SECTIONS:
            warnings.append(f"unknown config section [{name}] ignored")
        elif not isinstance(value, dict):
            raise ConfigError(name, value, "a table")
    for name, cls in SECTIONS.items():
        given = data.get(name, {})
        sections[name] = build(cls, given, name)
        warnings += [
            f"unknown config key {name}.{k} ignored" for k in given if k not in SCHEMA[name]
        ]
    config = Config(**sections, source=source)
    warnings += _cross_checks(config)
    for w in warnings:
        log.warning("%s", w)
    return dataclasses.replace(config, warnings=tuple(warnings))


def _cross_checks(config: Config) -> list[str]:
    """Rules between keys; raises ConfigError, returns warnings."""
    for key, value, allowed in config.presence.tracker.problems():
        raise ConfigError(f"presence.{key}", value, allowed)
    allow_list(config.presence)  # raises ConfigError naming the bad entry
    for name in ("content", "checkin", "config"):
        for kid, pub in getattr(config, name).public_keys.items():
            if not valid_public_key(pub):
                raise ConfigError(
                    f"{name}.public_keys.{kid}", pub, "base64 of a raw 32-byte Ed25519 public key"
                )
    content_keys = set(config.content.public_keys.values())
    for kid, pub in config.config.public_keys.items():
        if pub in content_keys:  # a key of its own: a content key must not change settings
            raise ConfigError(
                f"config.public_keys.{kid}", pub, "a key of its own, not one of content.public_keys"
            )
    m = config.mqtt
    if m.host == "auto" and not m.tls_ca:
        raise ConfigError(
            "mqtt.host", "auto", "a broker found by mDNS only with TLS (set mqtt.tls_ca)"
        )
    if m.hosts and (m.host == "auto" or (m.host and m.host not in m.hosts)):
        raise ConfigError("mqtt.host", m.host, "empty or one of mqtt.hosts when hosts is set")
    if any(not isinstance(h, str) or not h.strip() or h == "auto" for h in m.hosts):
        raise ConfigError("mqtt.hosts", list(m.hosts), "host names or IP addresses, not empty")
    if m.reconnect_base_s > m.reconnect_cap_s:
        raise ConfigError(
            "mqtt.reconnect_base_s", m.reconnect_base_s, "at most mqtt.reconnect_cap_s"
        )
    ck = config.checkin
    if ck.rotate_s > ck.accept_s:
        raise ConfigError(
            "checkin.rotate_s", ck.rotate_s, f"at most checkin.accept_s ({ck.accept_s})"
        )
    warnings = check_mqtt(m, config.device.device_id)  # TLS files, host
    try:
        pseudonymizer_from_settings(config.privacy)
    except PseudonymSettingsError as exc:
        raise ConfigError(f"privacy.{exc.key}", exc.value, exc.allowed) from exc
    return warnings


def load(path: Path | None) -> Config:
    """Read and validate `path`; None gives the defaults (an unprovisioned device)."""
    if path is None:
        return from_mapping({})
    try:
        with path.open("rb") as fh:
            data = tomllib.load(fh)
    except FileNotFoundError as exc:
        raise ConfigFileError(f"config file {path} does not exist") from exc
    except IsADirectoryError as exc:
        raise ConfigFileError(f"config file {path} is a directory, not a file") from exc
    except PermissionError as exc:
        raise ConfigFileError(f"config file {path} cannot be read (permission denied)") from exc
    except tomllib.TOMLDecodeError as exc:
        raise ConfigFileError(f"config file {path} is not valid TOML: {exc}") from exc
    except UnicodeDecodeError as exc:  # TOML is UTF-8; tomllib lets this through
        raise ConfigFileError(f"config file {path} is not UTF-8 text: {exc.reason}") from exc
    return from_mapping(data, path)
