"""TOML configuration: defaults, validation messages a user can act on, warnings."""

from __future__ import annotations

import logging
import tomllib
from dataclasses import fields
from pathlib import Path

import pytest

from edge.config import SCHEMA, load
from edge.config.keys import keys_of
from edge.errors import ConfigError, ConfigFileError
from edge.presence.tracker import TrackerParams
from tests.support.paths import ROOT

PROVISIONED = """
[device]
store_id = "store-12"
device_id = "edge-01"

[mqtt]
host = "broker.local"
"""


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "edge.toml"
    path.write_text(text, encoding="utf-8")
    return path


def test_defaults_are_an_unprovisioned_device() -> None:
    config = load(None)
    assert config.provisioned is False
    assert config.source is None
    assert config.warnings == ()
    assert config.mqtt.port == 1883
    assert config.mqtt.prefix == "omo/v1"
    assert config.mqtt.decide_timeout_ms == 800  # the protocol's default (docs/protocol.md)
    assert config.tracker_params == TrackerParams()
    # Every schema key is present, filled with its default.
    for section, keys in SCHEMA.items():
        assert set(config.tables()[section]) == set(keys)


def test_empty_file_is_the_defaults(tmp_path: Path) -> None:
    config = load(write(tmp_path, ""))
    assert config.tables() == load(None).tables()
    assert config.source == tmp_path / "edge.toml"


def test_provisioned_file_loads(tmp_path: Path) -> None:
    config = load(write(tmp_path, PROVISIONED + "port = 8883\n"))
    assert config.provisioned is True
    assert config.device.store_id == "store-12"
    assert config.mqtt.port == 8883


@pytest.mark.parametrize("missing", ["store_id", "device_id", "host"])
def test_provisioned_needs_store_device_and_broker(tmp_path: Path, missing: str) -> None:
    text = "\n".join(line for line in PROVISIONED.splitlines() if not line.startswith(missing))
    assert load(write(tmp_path, text)).provisioned is False


def test_presence_keys_reach_the_tracker(tmp_path: Path) -> None:
    config = load(write(tmp_path, "[presence]\nnear_m = 3\nabsence_timeout_s = 12.5\n"))
    params = config.tracker_params
    assert params.near_m == 3.0
    assert params.absence_timeout_s == 12.5
    assert params.exit_m == TrackerParams().exit_m
    assert params.body_loss_db == TrackerParams().body_loss_db


@pytest.mark.parametrize(
    ("toml", "key", "shown_value", "allowed_words"),
    [
        ('[mqtt]\nport = "x"', "mqtt.port", "'x'", "65535"),
        ("[mqtt]\nport = 70000", "mqtt.port", "70000", "65535"),
        ("[mqtt]\nport = 0", "mqtt.port", "0", "65535"),
        ("[mqtt]\nport = 1883.0", "mqtt.port", "1883.0", "integer"),
        ("[mqtt]\nport = true", "mqtt.port", "True", "integer"),
        ("[display]\nfps = false", "display.fps", "False", "integer"),
        ("[display]\nrotation = 45", "display.rotation", "45", "90"),
        ('[presence]\nsource = "bluetooth"', "presence.source", "'bluetooth'", "bleak"),
        ('[presence]\nsource = "replay:"', "presence.source", "'replay:'", "replay:PATH"),
        ("[presence]\nnear_m = -1", "presence.near_m", "-1", "positive"),
        ("[presence]\nbody_loss_db = true", "presence.body_loss_db", "True", "a number 0-20"),
        ("[presence]\nbody_loss_db = 30", "presence.body_loss_db", "30", "a number 0-20"),
        ("[presence]\nbody_loss_db = -1", "presence.body_loss_db", "-1", "a number 0-20"),
        ("[presence]\nadvert_noise_db = 0", "presence.advert_noise_db", "0", "positive"),
        ("[presence]\nmin_stop_s = -3", "presence.min_stop_s", "-3", "positive"),
        (
            "[presence]\nvisit_probability = 1.5",
            "presence.visit_probability",
            "1.5",
            "between 0 and 1",
        ),
        ("[presence]\ndistance_bins = 3", "presence.distance_bins", "3", "an integer 6-64"),
        ("[presence]\nreplay_loop = 1", "presence.replay_loop", "1", "true or false"),
        ('[mqtt]\nprefix = "omo/#"', "mqtt.prefix", "'omo/#'", "wildcards"),
        ('[device]\ndevice_id = "edge 01"', "device.device_id", "'edge 01'", "letters"),
        ('[log]\nlevel = "verbose"', "log.level", "'verbose'", "debug"),
        ('[checkin]\nbase_url = "ftp://x"', "checkin.base_url", "'ftp://x'", "http"),
        ("[sync]\nbatch_max_events = 0", "sync.batch_max_events", "0", "1-10000"),
        ("[provision]\npair_port = 70000", "provision.pair_port", "70000", "0-65535"),
        ('[provision]\ninterfaces = [""]', "provision.interfaces", "['']", "IPv4 addresses"),
        ("[provision]\nmax_attempts = 0", "provision.max_attempts", "0", "1-20"),
        ('[update]\nrelease_public_key = "xyz"', "update.release_public_key", "'xyz'", "Ed25519"),
        ("[update]\nmax_bytes = 10", "update.max_bytes", "10", "1024-1073741824"),
        (
            "[privacy]\nevent_retention_days = 0",
            "privacy.event_retention_days",
            "0",
            "1-3650",
        ),
        ("[privacy]\npseudonymize = 1", "privacy.pseudonymize", "1", "true or false"),
        ("[health]\ninterval_s = 0.5", "health.interval_s", "0.5", ">= 1, or 0 for never"),
    ],
)
def test_bad_value_names_key_value_and_what_is_allowed(
    tmp_path: Path, toml: str, key: str, shown_value: str, allowed_words: str
) -> None:
    with pytest.raises(ConfigError) as info:
        load(write(tmp_path, toml + "\n"))
    message = str(info.value)
    assert key in message
    assert shown_value in message
    assert allowed_words in message
    assert info.value.key == key


def test_section_that_is_not_a_table_is_an_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError) as info:
        load(write(tmp_path, "mqtt = 5\n"))
    assert "mqtt" in str(info.value)
    assert "table" in str(info.value)


def test_public_key_must_be_a_nonempty_string(tmp_path: Path) -> None:
    with pytest.raises(ConfigError) as info:
        load(write(tmp_path, '[content.public_keys]\nk1 = ""\n'))
    assert "content.public_keys.k1" in str(info.value)


@pytest.mark.parametrize("value", ["30", "-1", "20.5"])
def test_body_loss_outside_0_to_20_is_refused(tmp_path: Path, value: str) -> None:
    with pytest.raises(ConfigError) as info:
        load(write(tmp_path, f"[presence]\nbody_loss_db = {value}\n"))
    message = str(info.value)
    assert "presence.body_loss_db" in message
    assert value in message
    assert "a number 0-20" in message
    assert info.value.key == "presence.body_loss_db"


@pytest.mark.parametrize("value", [0, 20, 4.5])
def test_body_loss_from_0_to_20_is_accepted(tmp_path: Path, value: float) -> None:
    """Unlike the other tracker keys, 0 is allowed: a beacon carried in the open."""
    params = load(write(tmp_path, f"[presence]\nbody_loss_db = {value}\n")).tracker_params
    assert params.body_loss_db == value
    assert isinstance(params.body_loss_db, float)


def test_every_tracker_param_is_a_presence_key(tmp_path: Path) -> None:
    """Each TrackerParams field can be set in [presence] and reaches the tracker."""
    defaults = TrackerParams()
    keys = keys_of(TrackerParams)

    def other(name: str) -> float:
        """A valid value other than the default (doubled distances keep their order)."""
        value = getattr(defaults, name)
        check = keys[name].check
        for raw in (value * 2, value / 2, value + 1):
            candidate = type(value)(raw)
            if candidate != value and (check is None or check(candidate)):
                return candidate
        raise AssertionError(name)

    changed = {f.name: other(f.name) for f in fields(TrackerParams)}
    changed["trigger_release_probability"] = changed["trigger_probability"] / 2
    changed["visit_rearm_probability"] = changed["visit_probability"] / 4
    changed["visit_end_probability"] = (
        changed["visit_rearm_probability"] + changed["visit_probability"]
    ) / 2
    text = "[presence]\n" + "".join(f"{k} = {v}\n" for k, v in changed.items())
    config = load(write(tmp_path, text))
    assert config.warnings == ()
    assert config.tracker_params == TrackerParams(**changed)
    assert set(changed) <= set(SCHEMA["presence"])


def test_old_smoothing_key_warns_and_loads(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """A config from before the Kalman tracker still loads; the dropped key is named."""
    with caplog.at_level(logging.WARNING, logger="edge.config"):
        config = load(write(tmp_path, "[presence]\nsmoothing = 0.3\n"))
    assert config.tracker_params == TrackerParams()
    assert any("presence.smoothing" in w for w in config.warnings)
    assert any("presence.smoothing" in r.getMessage() for r in caplog.records)


def test_unknown_key_warns_and_loads(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.WARNING, logger="edge.config"):
        config = load(write(tmp_path, PROVISIONED + 'hots = "typo.example"\n'))
    assert config.provisioned is True
    assert "hots" not in config.tables()["mqtt"]
    assert any("mqtt.hots" in r.getMessage() for r in caplog.records)
    assert any("mqtt.hots" in w for w in config.warnings)


def test_unknown_section_warns_and_loads(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.WARNING, logger="edge.config"):
        config = load(write(tmp_path, PROVISIONED + '\n[telemetry]\nurl = "x"\n'))
    assert config.provisioned is True
    assert "telemetry" not in config.tables()
    warned = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert any("telemetry" in m for m in warned)


def test_missing_file_is_a_plain_error(tmp_path: Path) -> None:
    path = tmp_path / "nope.toml"
    with pytest.raises(ConfigFileError) as info:
        load(path)
    assert str(path) in str(info.value)
    assert "does not exist" in str(info.value)


def test_invalid_toml_is_a_plain_error(tmp_path: Path) -> None:
    path = write(tmp_path, "[mqtt\nport = \n")
    with pytest.raises(ConfigFileError) as info:
        load(path)
    assert str(path) in str(info.value)
    assert "not valid TOML" in str(info.value)


def test_overrides_are_validated_like_the_file(tmp_path: Path) -> None:
    config = load(write(tmp_path, PROVISIONED))
    changed = config.with_overrides({"mqtt": {"port": 1884}})
    assert changed.mqtt.port == 1884
    assert changed.mqtt.host == "broker.local"
    assert config.mqtt.port == 1883  # the original is untouched
    with pytest.raises(ConfigError) as info:
        config.with_overrides({"display": {"rotation": 45}})
    assert "display.rotation" in str(info.value)


def test_overrides_work_on_an_unprovisioned_config() -> None:
    changed = load(None).with_overrides({"mqtt": {"port": 1884}})
    assert changed.mqtt.port == 1884
    assert changed.provisioned is False


def test_example_config_lists_every_key_with_its_default() -> None:
    """config/edge.example.toml is the authoritative table: every key, each at its default."""
    example = ROOT / "config" / "edge.example.toml"
    doc = tomllib.loads(example.read_text())
    assert set(doc) == set(SCHEMA)
    for section, keys in SCHEMA.items():
        assert set(doc[section]) == set(keys), section
        for key, spec in keys.items():
            assert doc[section][key] == spec.default, f"{section}.{key}"
    assert load(example).warnings == ()
