"""Shared fixtures: a real Mosquitto per test, the central simulator, daemon processes."""

from __future__ import annotations

import os
import subprocess
import sys
import threading
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from edge.sim.broker import Mosquitto
from edge.sim.central import CentralSim
from tests.support.wait import wait_for

os.environ.setdefault("SDL_VIDEODRIVER", "dummy")
os.environ.setdefault("SDL_AUDIODRIVER", "dummy")
os.environ.setdefault("PYGAME_HIDE_SUPPORT_PROMPT", "1")

__all__ = ["DEMO_TRACE", "DaemonProcess", "wait_for"]

DEMO_TRACE = Path(__file__).resolve().parent.parent / "edge" / "sim" / "traces" / "demo.jsonl"


@pytest.fixture
def broker(tmp_path: Path) -> Iterator[Mosquitto]:
    with Mosquitto(workdir=tmp_path / "mosquitto") as mosq:
        yield mosq


@pytest.fixture
def central(broker: Mosquitto) -> Iterator[CentralSim]:
    with CentralSim("127.0.0.1", broker.port) as sim:
        yield sim


def toml_value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'
    if isinstance(value, dict):
        return "{" + ", ".join(f'"{k}" = {toml_value(v)}' for k, v in value.items()) + "}"
    if isinstance(value, list | tuple):
        return "[" + ", ".join(toml_value(v) for v in value) + "]"
    return str(value)


def write_config(path: Path, tables: dict[str, dict[str, Any]]) -> Path:
    lines = []
    for section, keys in tables.items():
        lines.append(f"[{section}]")
        lines += [f"{k} = {toml_value(v)}" for k, v in keys.items()]
    path.write_text("\n".join(lines) + "\n")
    return path


@pytest.fixture
def device_config(tmp_path: Path, broker: Mosquitto) -> Callable[..., Path]:
    """A provisioned device config on the test broker; keyword tables override sections."""

    def make(trace: Path = DEMO_TRACE, speed: float = 20.0, **tables: dict[str, Any]) -> Path:
        base: dict[str, dict[str, Any]] = {
            "device": {"store_id": "store-1", "device_id": "screen-1"},
            "mqtt": {"host": "127.0.0.1", "port": broker.port},
            "presence": {"source": f"replay:{trace}", "replay_speed": speed},
            "display": {
                "headless": True,
                "width": 960,
                "height": 540,
                "screenshot_dir": str(tmp_path / "shots"),
            },
            "storage": {"path": str(tmp_path / "state" / "outbox.sqlite3")},
            "sync": {"ack_timeout_s": 1.0},
        }
        for section, keys in tables.items():
            base.setdefault(section, {}).update(keys)
        return write_config(tmp_path / "edge.toml", base)

    return make


class DaemonProcess:
    """`omo-edge run` as a real process; output collected for assertions."""

    def __init__(self, args: list[str], env: dict[str, str] | None = None) -> None:
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "edge.cli", *args],
            env=None if env is None else {**os.environ, **env},
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        self.out: list[str] = []
        self.err: list[str] = []
        self._readers = [
            threading.Thread(target=self._read, args=(self.proc.stdout, self.out), daemon=True),
            threading.Thread(target=self._read, args=(self.proc.stderr, self.err), daemon=True),
        ]
        for r in self._readers:
            r.start()

    @staticmethod
    def _read(stream: Any, into: list[str]) -> None:
        for line in stream:
            into.append(line)

    def wait(self, timeout: float = 90) -> int:
        code = self.proc.wait(timeout)
        self._close()
        return code

    def _close(self) -> None:
        for r in self._readers:
            r.join(5)
        for stream in (self.proc.stdout, self.proc.stderr):
            if stream is not None:
                stream.close()

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(15)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(5)
        self._close()

    @property
    def stdout(self) -> str:
        return "".join(self.out)

    @property
    def stderr(self) -> str:
        return "".join(self.err)


@pytest.fixture
def daemon() -> Iterator[Callable[..., DaemonProcess]]:
    started: list[DaemonProcess] = []

    def start(*args: str, env: dict[str, str] | None = None) -> DaemonProcess:
        proc = DaemonProcess(list(args), env)
        started.append(proc)
        return proc

    yield start
    for proc in started:
        proc.stop()


def screen_checkin_nonce(central: CentralSim, device_topic: str, timeout_s: float = 15) -> str:
    """The check-in nonce on the device's screen, read as a shopper's phone would: from the
    QR code in a screenshot (taken with the `screenshot` command)."""
    import base64
    import time
    import urllib.parse

    import numpy as np
    import pygame
    import zxingcpp

    cmd_id = central.command(device_topic, "screenshot")
    deadline = time.monotonic() + timeout_s
    while cmd_id not in central.cmd_results:
        if time.monotonic() > deadline:
            raise TimeoutError("no screenshot came back")
        time.sleep(0.05)
    png = base64.b64decode(central.cmd_results[cmd_id]["png_b64"])
    path = Path(os.environ.get("TMPDIR", "/tmp")) / f"omo-shot-{cmd_id}.png"
    path.write_bytes(png)
    try:
        pixels = np.asarray(pygame.surfarray.array3d(pygame.image.load(str(path)))).swapaxes(0, 1)
    finally:
        path.unlink()
    for code in zxingcpp.read_barcodes(np.ascontiguousarray(pixels)):
        query = urllib.parse.parse_qs(urllib.parse.urlsplit(code.text).query)
        if "n" in query and "d" in query:
            return query["n"][0]
    raise AssertionError("no check-in QR code on the screen")


class FleetPki:
    """A test fleet's CA and a broker certificate for 127.0.0.1, as files."""

    def __init__(self, folder: Path) -> None:
        from edge.provision import pki

        folder.mkdir(parents=True, exist_ok=True)
        self.dir = folder
        self.ca = pki.new_ca("omo test fleet CA")
        server = pki.server_cert(self.ca, ["127.0.0.1", "localhost"])
        self.ca_cert = self._write("ca.crt", self.ca.cert_pem)
        self.ca_key = self._write("ca.key", self.ca.key_pem)
        self.server_cert = self._write("server.crt", server.cert_pem)
        self.server_key = self._write("server.key", server.key_pem)

    def _write(self, name: str, data: bytes) -> Path:
        path = self.dir / name
        path.write_bytes(data)
        path.chmod(0o600)
        return path

    def client(self, device_id: str, days: float = 30) -> tuple[Path, Path]:
        """A client certificate and key (CN = `device_id`), as files."""
        from edge.provision import pki

        key = pki.new_key()
        cert = pki.sign_csr(pki.make_csr(key, device_id), self.ca, expected_cn=device_id, days=days)
        key_file = self._write(f"{device_id}.key", pki.key_pem(key))
        return self._write(f"{device_id}.crt", cert), key_file


@pytest.fixture
def fleet_pki(tmp_path: Path) -> FleetPki:
    return FleetPki(tmp_path / "pki")


@pytest.fixture
def tls_broker(tmp_path: Path, fleet_pki: FleetPki) -> Iterator[Mosquitto]:
    """Mosquitto with mutual TLS: a client certificate is required, its CN is the user name."""
    from edge.sim.broker import tls_listener

    listener = tls_listener(fleet_pki.ca_cert, fleet_pki.server_cert, fleet_pki.server_key)
    with Mosquitto(workdir=tmp_path / "mosquitto-tls", listener=listener) as mosq:
        yield mosq


class FleetPkiFull(FleetPki):
    """The fleet CA plus a CRL, and a separate CA for the central service's certificate."""

    def __init__(self, folder: Path) -> None:
        from edge.provision import crl, pki

        super().__init__(folder)
        self.service_ca = pki.new_ca("omo test service CA")
        self.service_ca_cert = self._write("service-ca.crt", self.service_ca.cert_pem)
        key = pki.new_key()
        cert = pki.sign_csr(
            pki.make_csr(key, "omo-central"), self.service_ca, expected_cn="omo-central"
        )
        self.central_cert = self._write("omo-central.crt", cert)
        self.central_key = self._write("omo-central.key", pki.key_pem(key))
        self.revoked: set[int] = set()
        self.crl = self._write("fleet.crl", crl.revocation_list(self.ca))

    def revoke(self, cert: Path) -> None:
        """List `cert` in the CRL (the broker reads it when it starts)."""
        self.revoke_pem(cert.read_bytes())

    def revoke_pem(self, cert_pem: bytes) -> None:
        from edge.provision import crl

        self.revoked.add(crl.serial(cert_pem))
        self._write("fleet.crl", crl.revocation_list(self.ca, self.revoked))


class FleetBroker(Mosquitto):
    """docs/mosquitto/fleet.conf and omo-fleet.acl, on free loopback ports."""

    def __init__(
        self,
        pki: FleetPkiFull,
        workdir: Path,
        server_cert: Path | None = None,
        acl: Path | None = None,
    ) -> None:
        """`acl`: an ACL made by `omo-ops fleet acl` instead of the documented example's."""
        from edge.sim.broker import free_port
        from tests.fleet_broker import FLEET_ACL, render_fleet_conf

        port, self.central_port = free_port(), free_port()
        workdir.mkdir(parents=True, exist_ok=True)
        conf = render_fleet_conf(
            port=port,
            central_port=self.central_port,
            workdir=workdir,
            files={
                "/etc/mosquitto/certs/fleet-ca.crt": pki.ca_cert,
                "/etc/mosquitto/certs/broker.crt": server_cert or pki.server_cert,
                "/etc/mosquitto/certs/broker.key": pki.server_key,
                "/etc/mosquitto/certs/fleet.crl": pki.crl,
                "/etc/mosquitto/certs/service-ca.crt": pki.service_ca_cert,
                "/etc/mosquitto/omo-fleet.acl": acl or FLEET_ACL,
            },
        )
        super().__init__(port=port, workdir=workdir, conf=conf)


@pytest.fixture
def fleet_pki_full(tmp_path: Path) -> FleetPkiFull:
    return FleetPkiFull(tmp_path / "fleet-pki")


@pytest.fixture
def fleet_broker(tmp_path: Path, fleet_pki_full: FleetPkiFull) -> Iterator[FleetBroker]:
    """The documented fleet broker (mutual TLS, CRL, ACL for docs/mosquitto/devices.example)."""
    with FleetBroker(fleet_pki_full, tmp_path / "fleet-broker") as mosq:
        yield mosq


@pytest.fixture
def fleet_central(fleet_broker: FleetBroker, fleet_pki_full: FleetPkiFull) -> Iterator[CentralSim]:
    """The central simulator on the fleet broker's service listener, as user omo-central."""
    from edge.link.tls import TlsFiles

    tls = TlsFiles(
        str(fleet_pki_full.ca_cert),
        str(fleet_pki_full.central_cert),
        str(fleet_pki_full.central_key),
    )
    with CentralSim("127.0.0.1", fleet_broker.central_port, tls=tls) as sim:
        yield sim


@pytest.fixture
def small_disk(tmp_path: Path) -> Iterator[Path]:
    """A 4 MiB tmpfs (needs root, as in CI); skipped where mounting is not allowed."""
    mount = tmp_path / "small-disk"
    mount.mkdir()
    done = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", "size=4m,mode=0700", "tmpfs", str(mount)],
        capture_output=True,
        check=False,
    )
    if done.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here: {done.stderr.decode().strip()}")
    try:
        yield mount
    finally:
        subprocess.run(["umount", "-l", str(mount)], check=False)


def fill(disk: Path) -> Path:
    """Fill `disk` to the last byte; the filler file (delete it to free the space)."""
    filler = disk / "filler"
    with filler.open("wb") as out:
        try:
            while True:
                out.write(b"\0" * 65536)
                out.flush()
                os.fsync(out.fileno())
        except OSError:
            pass
    return filler
