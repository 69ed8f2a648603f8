"""A real `omo-edge run` on the documented fleet broker: mutual TLS, renewal, keys, logs."""

from __future__ import annotations

import secrets
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from edge.files import write_atomic
from edge.provision import pki
from edge.sim.central import CentralSim
from tests.support.daemon import DaemonProcess
from tests.support.fleet_broker import FleetBroker
from tests.support.pki import FleetPkiFull
from tests.support.wait import wait_for

pytestmark = [pytest.mark.slow, pytest.mark.timeout(150)]


def device_credentials(fleet: FleetPkiFull, folder: Path) -> tuple[Path, Path]:
    """screen-1's certificate and key where a provisioned device keeps them (0600)."""
    cert, key = fleet.client("screen-1")
    folder.mkdir(parents=True, exist_ok=True)
    write_atomic(folder / "device.crt", cert.read_bytes())
    write_atomic(folder / "device.key", key.read_bytes())
    return folder / "device.crt", folder / "device.key"


def tls_mqtt(broker: FleetBroker, fleet: FleetPkiFull, cert: Path, key: Path) -> dict[str, Any]:
    return {
        "host": "127.0.0.1",
        "port": broker.port,
        "tls_ca": str(fleet.ca_cert),
        "tls_cert": str(cert),
        "tls_key": str(key),
    }


def syncing_device(
    tmp_path: Path,
    fleet: FleetPkiFull,
    broker: FleetBroker,
    central: CentralSim,
    device_config: Callable[..., Path],
    daemon: Callable[..., DaemonProcess],
) -> tuple[Path, Path, DaemonProcess]:
    """screen-1 running on the fleet broker, its events reaching central: (cert, key, proc)."""
    cert, key = device_credentials(fleet, tmp_path / "creds")
    config = device_config(mqtt=tls_mqtt(broker, fleet, cert, key), presence={"replay_loop": True})
    proc = daemon("run", "--config", str(config))
    assert wait_for(lambda: len(central.events) >= 5, 60), proc.stdout + proc.stderr
    return cert, key, proc


def test_the_daemon_syncs_over_mutual_tls_and_takes_up_a_renewed_certificate(
    tmp_path: Path,
    fleet_pki_full: FleetPkiFull,
    fleet_broker: FleetBroker,
    fleet_central: CentralSim,
    device_config: Callable[..., Path],
    daemon: Callable[..., DaemonProcess],
) -> None:
    cert, key, proc = syncing_device(
        tmp_path, fleet_pki_full, fleet_broker, fleet_central, device_config, daemon
    )
    assert fleet_central.states["omo/v1/store-1/screen-1"]["state"] == "online"

    # Renewal: a new key and certificate land on disk (key first, as an agent would write
    # them), the old certificate is revoked, and the broker restarts to read the new CRL.
    old = cert.read_bytes()
    new_cert, new_key = fleet_pki_full.client("screen-1")
    write_atomic(key, new_key.read_bytes())
    write_atomic(cert, new_cert.read_bytes())
    fleet_pki_full.revoke_pem(old)
    fleet_broker.stop()
    before = len(fleet_central.events)
    fleet_broker.start()

    assert wait_for(lambda: len(fleet_central.events) >= before + 5, 90), proc.stdout
    assert "changed on disk; using the new one" in proc.stdout
    assert proc.proc.poll() is None


def test_the_daemon_refuses_to_start_with_a_readable_private_key(
    tmp_path: Path,
    fleet_pki_full: FleetPkiFull,
    fleet_broker: FleetBroker,
    device_config: Callable[..., Path],
    daemon: Callable[..., DaemonProcess],
) -> None:
    cert, key = device_credentials(fleet_pki_full, tmp_path / "creds")
    config = device_config(mqtt=tls_mqtt(fleet_broker, fleet_pki_full, cert, key))
    key.chmod(0o640)
    proc = daemon("run", "--config", str(config), "--duration", "5")
    assert proc.wait(60) == 2
    assert f"chmod 600 {key}" in proc.stderr and "readable by other users" in proc.stderr

    key.chmod(0o600)
    state_key = tmp_path / "state" / "keys" / "visitor.key"
    state_key.parent.mkdir(parents=True)
    state_key.write_bytes(b"not really a key, but named like one")
    state_key.chmod(0o644)
    proc = daemon("run", "--config", str(config), "--duration", "5")
    assert proc.wait(60) == 2
    assert f"chmod 600 {state_key}" in proc.stderr

    state_key.chmod(0o600)  # fixed as the message says: it starts
    proc = daemon("run", "--config", str(config), "--duration", "3")
    assert proc.wait(60) == 0, proc.stderr


def test_no_password_or_key_material_in_debug_output(
    tmp_path: Path,
    fleet_pki_full: FleetPkiFull,
    fleet_broker: FleetBroker,
    fleet_central: CentralSim,
    device_config: Callable[..., Path],
    daemon: Callable[..., DaemonProcess],
) -> None:
    cert, key = device_credentials(fleet_pki_full, tmp_path / "creds")
    password = "pw-" + secrets.token_hex(12)
    mqtt = tls_mqtt(fleet_broker, fleet_pki_full, cert, key)
    config = device_config(
        mqtt={**mqtt, "username": "screen-1", "password": password}, log={"level": "debug"}
    )
    proc = daemon("run", "--config", str(config))
    assert wait_for(lambda: len(fleet_central.events) >= 5, 60), proc.stdout + proc.stderr
    fleet_broker.stop()  # a reconnect with its retries logged too
    fleet_broker.start()
    assert wait_for(lambda: "connected to broker" in proc.stdout.split("lost the broker")[-1], 60)
    proc.stop()
    output = proc.stdout + proc.stderr
    assert "debug: " in output  # it did log at debug level
    assert password not in output
    assert "PRIVATE KEY" not in output
    key_lines = [ln for ln in key.read_text().splitlines() if ln and not ln.startswith("-----")]
    assert key_lines and not any(line in output for line in key_lines)


def test_the_daemon_refuses_a_broker_certificate_for_another_host(
    tmp_path: Path,
    fleet_pki_full: FleetPkiFull,
    fleet_broker: FleetBroker,
    device_config: Callable[..., Path],
    daemon: Callable[..., DaemonProcess],
) -> None:
    f = fleet_pki_full
    other = pki.server_cert(f.ca, ["otherhost"])
    f.server_cert.write_bytes(other.cert_pem)  # the fixture broker has read its files already
    f.server_key.write_bytes(other.key_pem)
    cert, key = device_credentials(f, tmp_path / "creds")
    with FleetBroker(f, tmp_path / "otherhost-broker") as wrong:
        mqtt = {**tls_mqtt(fleet_broker, f, cert, key), "port": wrong.port}
        proc = daemon("run", "--config", str(device_config(mqtt=mqtt)))
        assert wait_for(lambda: "certificate was not accepted" in proc.stdout, 60), proc.stdout
    assert "certificate is not valid for '127.0.0.1'" in proc.stdout
    assert proc.proc.poll() is None  # it keeps playing and retrying


def test_a_half_written_renewal_keeps_the_old_certificate_working(
    tmp_path: Path,
    fleet_pki_full: FleetPkiFull,
    fleet_broker: FleetBroker,
    fleet_central: CentralSim,
    device_config: Callable[..., Path],
    daemon: Callable[..., DaemonProcess],
) -> None:
    cert, _key, proc = syncing_device(
        tmp_path, fleet_pki_full, fleet_broker, fleet_central, device_config, daemon
    )
    # A renewal that wrote the certificate but not (yet) its key: the pair does not match.
    write_atomic(cert, fleet_pki_full.client("screen-1")[0].read_bytes())
    fleet_broker.stop()
    before = len(fleet_central.events)
    fleet_broker.start()
    assert wait_for(lambda: len(fleet_central.events) >= before + 5, 90), proc.stdout
    assert "cannot use the renewed client certificate" in proc.stdout
