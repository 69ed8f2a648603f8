"""TLS settings checked when the config loads; key files checked when the daemon starts;
the fleet ACL generator and the documented ACL it produced."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from edge.config import from_mapping
from edge.errors import ConfigError
from edge.files import write_atomic
from edge.link.tls import ExposedKeyError, refuse_exposed_keys
from edge.ops import fleet_acl
from edge.ops.fleet_acl import InventoryError, parse_inventory
from tests.support.fleet_broker import FLEET_ACL, FLEET_INVENTORY
from tests.support.pki import FleetPki


@pytest.fixture
def creds(fleet_pki: FleetPki) -> dict[str, str]:
    cert, key = fleet_pki.client("edge-01")
    return {"tls_ca": str(fleet_pki.ca_cert), "tls_cert": str(cert), "tls_key": str(key)}


def load(mqtt: dict[str, Any], device_id: str = "edge-01") -> Any:
    return from_mapping(
        {
            "device": {"store_id": "s1", "device_id": device_id},
            "mqtt": {"host": "broker.example.com", "port": 8883, **mqtt},
        }
    )


def test_a_complete_tls_setting_loads(creds: dict[str, str]) -> None:
    cfg = load(creds)
    assert cfg.mqtt.tls_cert == creds["tls_cert"] and not cfg.warnings


@pytest.mark.parametrize(
    ("change", "key", "says"),
    [
        ({"tls_key": ""}, "mqtt.tls_key", "goes with mqtt.tls_cert"),
        ({"tls_cert": ""}, "mqtt.tls_cert", "goes with mqtt.tls_key"),
        ({"tls_ca": ""}, "mqtt.tls_ca", "needed for TLS"),
        ({"tls_ca": "/nonexistent/ca.crt"}, "mqtt.tls_ca", "no file there"),
        ({"tls_key": "/nonexistent/dev.key"}, "mqtt.tls_key", "no file there"),
        ({"host": "mqtts://broker.example.com"}, "mqtt.host", "without a scheme"),
        ({"host": "broker.example.com:8883"}, "mqtt.host", "put the port in mqtt.port"),
        ({"host": "broker example"}, "mqtt.host", "no spaces"),
        ({"port": 0}, "mqtt.port", "1-65535"),
    ],
)
def test_tls_settings_that_cannot_work_are_refused_in_plain_words(
    creds: dict[str, str], change: dict[str, Any], key: str, says: str
) -> None:
    with pytest.raises(ConfigError) as err:
        load({**creds, **change})
    assert err.value.key == key and says in str(err.value)


def test_a_certificate_for_another_device_is_refused(creds: dict[str, str]) -> None:
    with pytest.raises(
        ConfigError, match=re.escape("CN is 'edge-01', device.device_id is 'edge-02'")
    ):
        load(creds, device_id="edge-02")


def test_tls_on_the_plain_port_is_a_warning(creds: dict[str, str]) -> None:
    assert any("1883" in w for w in load({**creds, "port": 1883}).warnings)
    assert load({"host": "::1", "port": 1883}).provisioned  # an IPv6 literal is a host


def test_exposed_keys_are_named_with_the_fix(tmp_path: Path, creds: dict[str, str]) -> None:
    key = Path(creds["tls_key"])
    state = tmp_path / "state"
    refuse_exposed_keys(str(key), state)  # 0600 and ours: fine
    key.chmod(0o644)
    with pytest.raises(ExposedKeyError, match=re.escape(f"fix: chmod 600 {key}")):
        refuse_exposed_keys(str(key), state)
    key.chmod(0o600)
    pem = state / "pairing" / "identity.pem"
    write_atomic(pem, b"-----BEGIN PRIVATE KEY-----\n...", 0o640)
    write_atomic(state / "outbox.sqlite3", b"not a key", 0o644)  # not a key: not checked
    with pytest.raises(ExposedKeyError) as err:
        refuse_exposed_keys(str(key), state)
    assert str(pem) in str(err.value) and "outbox" not in str(err.value)
    pem.chmod(0o600)
    bundle = state / "bundle.json"  # holds the visitor-pseudonym keys
    write_atomic(bundle, b'{"visitor_keys": {}}', 0o644)
    with pytest.raises(ExposedKeyError, match=re.escape(f"fix: chmod 600 {bundle}")):
        refuse_exposed_keys(str(key), state)


@pytest.mark.skipif(os.geteuid() != 0, reason="needs root to give a file to another user")
def test_a_key_owned_by_another_user_is_refused(tmp_path: Path) -> None:
    key = tmp_path / "device.key"
    write_atomic(key, b"-----BEGIN PRIVATE KEY-----\n")
    os.chown(key, 4242, 4242)
    with pytest.raises(ExposedKeyError, match="chown"):
        refuse_exposed_keys(str(key), tmp_path / "state")


def test_the_documented_acl_is_what_the_generator_makes() -> None:
    out = subprocess.run(
        [sys.executable, "-m", "edge.ops.cli", "fleet", "acl", str(FLEET_INVENTORY)],
        capture_output=True,
        text=True,
        timeout=30,
        check=True,
    ).stdout
    assert out == FLEET_ACL.read_text()
    screen3 = out.split("user screen-3\n")[1]
    assert "topic read omo/v1/store-2/_store/manifest" in screen3
    assert "store-1" not in screen3


@pytest.mark.parametrize(
    ("text", "says"),
    [
        ("s1 d1\ns2 d1\n", "listed for stores 's1' and 's2'"),
        ("s1 d+1\n", "device id 'd+1'"),
        ("s/1 d1\n", "store id 's/1'"),
        ("s1 _store\n", "device id '_store'"),
        ("s1 omo-central\n", "central service"),
        ("s1\n", "expected 'store_id device_id'"),
    ],
)
def test_inventory_mistakes_are_refused(text: str, says: str) -> None:
    with pytest.raises(InventoryError, match=re.escape(says)):
        parse_inventory(text)


def test_inventory_accepts_commas_comments_and_repeats() -> None:
    devices = parse_inventory("# fleet\ns1, d2\ns1 d1  # lobby\ns1 d1\n")
    assert [d.device_id for d in devices] == ["d1", "d2"]
    assert fleet_acl.fleet_acl(devices).count("user d1\n") == 1
