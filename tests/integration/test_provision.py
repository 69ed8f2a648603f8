"""End to end: unprovisioned `omo-edge run` processes found, paired and online over mutual TLS.

Everything is real: daemons as processes, zeroconf on 127.0.0.1, SPAKE2 over TCP,
Mosquitto requiring client certificates, codes read from the screen's QR code.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import re
import ssl
import threading
import time
import urllib.parse
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import paho.mqtt.client as mqtt
import pygame
import pytest
import zxingcpp
from paho.mqtt.enums import CallbackAPIVersion

from edge.link.tls import TlsFiles
from edge.ops import pairing as ops
from edge.provision import pairing
from edge.provision.bundle import Broker
from edge.provision.identity import load_or_create
from edge.provision.service import read_message, send
from edge.sim.broker import Mosquitto
from edge.sim.central import CentralSim
from tests.support.cli import omo_edge
from tests.support.cli import ops as ops_cli
from tests.support.config import write_config
from tests.support.daemon import DaemonProcess
from tests.support.fleet_broker import FleetBroker
from tests.support.paths import DEMO_TRACE
from tests.support.pki import FleetPki, FleetPkiFull
from tests.support.wait import wait_for

# Devices announce _omo-edge._tcp on 127.0.0.1: these browses must not see another test's.
pytestmark = pytest.mark.xdist_group("omo-edge-mdns")

STORE = "store-7"


def device_config(folder: Path, **provision: Any) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    return write_config(
        folder / "edge.toml",
        {
            "presence": {
                "source": f"replay:{DEMO_TRACE}",
                "replay_speed": 5.0,
                "replay_loop": True,
            },
            "display": {
                "headless": True,
                "width": 960,
                "height": 540,
                "screenshot_dir": str(folder / "shots"),
            },
            "storage": {"path": str(folder / "state" / "outbox.sqlite3"), "hold_s": 0},
            "provision": {"interfaces": ["127.0.0.1"], "pair_port": 0, **provision},
        },
    )


class Device:
    """A running unprovisioned device: its folder, process, id and pairing port."""

    def __init__(self, folder: Path, proc: DaemonProcess) -> None:
        self.folder, self.proc = folder, proc
        assert wait_for(lambda: "pairing service on" in proc.stdout, 30), proc.stdout + proc.stderr
        self.id = json.loads((folder / "state" / "identity.json").read_text())["device_id"]
        line = next(ln for ln in proc.out if "pairing service on" in ln)
        self.port = int(line.rsplit(" ", 1)[1])

    def shots(self) -> list[Path]:
        return sorted(p for p in (self.folder / "shots").glob("*.png") if p.name[0] != ".")

    def screen_code(self, newer_than: str = "") -> tuple[str, str]:
        """(the code, its screenshot's name) from the pairing QR on the newest screenshot."""
        found: list[tuple[str, str]] = []

        def look() -> bool:
            shots = [p for p in self.shots() if "omo-pairing" in p.name and p.name > newer_than]
            if not shots:
                return False
            url = read_qr(shots[-1])
            assert url.startswith(f"omo-pair:{self.id}?")
            query = urllib.parse.parse_qs(urllib.parse.urlsplit(url).query)
            assert int(query["port"][0]) == self.port
            found.append((query["code"][0], shots[-1].name))
            return True

        assert wait_for(look, 20), "no pairing slide on the screen"
        return found[-1]


def read_qr(png: Path) -> str:
    pixels = pygame.surfarray.array3d(pygame.image.load(str(png))).swapaxes(0, 1)
    texts = [c.text for c in zxingcpp.read_barcodes(np.ascontiguousarray(pixels))]
    assert texts, f"no QR code in {png.name}"
    return texts[0]


def pair_args(device: Device, code: str, broker: Mosquitto, pki: FleetPki) -> list[str]:
    return [
        "provision",
        "pair",
        device.id,
        "--code",
        code,
        "--store",
        STORE,
        "--broker",
        f"mqtts://127.0.0.1:{broker.port}",
        "--ca",
        str(pki.ca_cert),
        "--signing-ca-key",
        str(pki.ca_key),
        "--interface",
        "127.0.0.1",
        "--wait",
        "10",
    ]


def try_pair(device: Device, code: str, make: Callable[[bytes], bytes] | None = None) -> str:
    """One pairing attempt with the ops library; "" on success, else the error's words.
    (A session the device is still closing answers "busy": try again, as a person would.)"""

    def never(_csr: bytes) -> bytes:
        raise AssertionError("no bundle should be made")

    for _ in range(40):
        try:
            asyncio.run(
                ops.pair_at(
                    "127.0.0.1",
                    device.port,
                    device.id,
                    code=code,
                    make_bundle=make or never,
                    say=lambda _l: None,
                    timeout_s=10,
                )
            )
            return ""
        except ops.OpsError as exc:
            if "someone else is pairing" not in str(exc):
                return str(exc)
        time.sleep(0.1)
    raise AssertionError("the device stayed busy")


def bundle_for(device: Device, broker: Mosquitto, pki: FleetPki) -> Callable[[bytes], bytes]:
    signer = ops.Signer(pki.ca.cert_pem, pki.ca.key_pem)
    return ops.bundle_maker(
        device.id,
        STORE,
        Broker("127.0.0.1", broker.port),
        signer=signer,
        say=lambda _l: None,
        keys={},
    )


class TlsClient:
    """An MQTT client with its own client certificate (CN `name`)."""

    def __init__(self, broker: Mosquitto, pki: FleetPki, name: str) -> None:
        cert, key = pki.client(name)
        self.messages: list[tuple[str, dict[str, Any]]] = []
        self.lock = threading.Lock()
        self.client = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=name, protocol=mqtt.MQTTv5)
        self.client.tls_set(str(pki.ca_cert), str(cert), str(key), cert_reqs=ssl.CERT_REQUIRED)
        self.client.on_message = self._on_message
        self.client.connect("127.0.0.1", broker.port)
        self.client.loop_start()

    def _on_message(self, _c: Any, _u: Any, msg: mqtt.MQTTMessage) -> None:
        with self.lock:
            self.messages.append((msg.topic, json.loads(msg.payload)))

    def seen(self, topic: str, **want: Any) -> bool:
        with self.lock:
            return any(
                t == topic and all(m.get(k) == v for k, v in want.items()) for t, m in self.messages
            )

    def close(self) -> None:
        self.client.disconnect()
        self.client.loop_stop()


def test_two_devices_listed_one_paired_online_over_mutual_tls(
    tmp_path: Path,
    daemon: Callable[..., DaemonProcess],
    fleet_pki_full: FleetPkiFull,
) -> None:
    """On the documented fleet broker (docs/mosquitto: mutual TLS, CRL, ACL). The ACL is
    made by `omo-ops fleet acl` from the devices' ids, as ops would before installing:
    each device's own code makes its id (in its state dir) before the daemon starts."""
    folders = [tmp_path / "dev1", tmp_path / "dev2"]
    ids = [load_or_create(f / "state").device_id for f in folders]
    inventory = tmp_path / "devices.txt"
    inventory.write_text("".join(f"{STORE} {i}\n" for i in ids))
    acl = tmp_path / "omo-fleet.acl"
    made = ops_cli("fleet", "acl", str(inventory), "--out", str(acl))
    assert made.returncode == 0, made.stderr
    with contextlib.ExitStack() as stack:
        broker = stack.enter_context(FleetBroker(fleet_pki_full, tmp_path / "broker", acl=acl))
        central = stack.enter_context(
            CentralSim(
                "127.0.0.1",
                broker.central_port,
                tls=TlsFiles(
                    str(fleet_pki_full.ca_cert),
                    str(fleet_pki_full.central_cert),
                    str(fleet_pki_full.central_key),
                ),
            )
        )
        procs = [daemon("run", "--config", str(device_config(f))) for f in folders]
        one, two = (Device(f, p) for f, p in zip(folders, procs, strict=True))
        assert [one.id, two.id] == ids
        _pair_and_verify(one, two, broker, fleet_pki_full, central)


def _pair_and_verify(
    one: Device, two: Device, broker: FleetBroker, pki: FleetPkiFull, central: CentralSim
) -> None:
    started = time.monotonic()
    listed = ops_cli("provision", "list", "--interface", "127.0.0.1", "--wait", "4")
    t_list = time.monotonic() - started
    assert listed.returncode == 0, listed.stderr
    cells = [re.split(r"\s{2,}", line) for line in listed.stdout.splitlines()[1:]]
    rows = {row[0]: row for row in cells}
    for device in (one, two):  # other tests may advertise on loopback too: filter by id
        assert rows[device.id][3] == "no"  # not provisioned
        assert rows[device.id][-1] == f"127.0.0.1:{device.port}"

    code, _shot = one.screen_code()
    t0 = time.monotonic()
    paired = ops_cli(*pair_args(one, code, broker, pki))
    t_pair = time.monotonic() - t0
    assert paired.returncode == 0, paired.stderr
    assert "code confirmed" in paired.stderr and "paired:" in paired.stderr

    t0 = time.monotonic()
    verified = ops_cli(  # ops check from the platform side: the central listener and identity
        "provision",
        "verify",
        one.id,
        "--broker",
        f"mqtts://127.0.0.1:{broker.central_port}",
        "--ca",
        str(pki.ca_cert),
        "--cert",
        str(pki.central_cert),
        "--key",
        str(pki.central_key),
        "--timeout",
        "30",
    )
    t_verify = time.monotonic() - t0
    total = time.monotonic() - started
    assert verified.returncode == 0, verified.stderr
    assert f"{one.id} is online" in verified.stderr
    # under the fleet ACL the device's state and events reach central on its own topics
    assert wait_for(
        lambda: central.states.get(f"omo/v1/{STORE}/{one.id}", {}).get("state") == "online", 15
    ), central.states
    assert wait_for(
        lambda: any(e.get("type") == "visit.enter" for e in central.events.values()), 30
    ), "no event from the paired device reached central"
    print(
        f"\nops flow: list {t_list:.1f} s, pair {t_pair:.1f} s, verify {t_verify:.1f} s, "
        f"total {total:.1f} s"
    )
    print(paired.stderr + verified.stderr)

    state = one.folder / "state"
    for name in ("bundle.json", "client.crt", "ca.pem", "device.key"):
        assert (state / name).stat().st_mode & 0o077 == 0
    # the pairing slide is gone: the device's own playlist plays
    assert wait_for(lambda: "omo-pairing" not in one.shots()[-1].name, 15)
    # announced as provisioned, with its store; a second pairing is refused in plain words
    assert wait_for(
        lambda: any(
            d.id == one.id and d.provisioned and d.store == STORE
            for d in ops.browse("127.0.0.1", 2.0, want=None)
        ),
        20,
    )
    again = ops_cli(*pair_args(one, code, broker, pki))
    assert again.returncode == 2 and "already provisioned" in again.stderr
    # the other device still waits, untouched
    assert "omo-pairing" in two.shots()[-1].name


def test_five_wrong_codes_lock_pairing_and_a_new_code_is_shown(
    tmp_path: Path,
    daemon: Callable[..., DaemonProcess],
    tls_broker: Mosquitto,
    fleet_pki: FleetPki,
) -> None:
    folder = tmp_path / "dev"
    device = Device(folder, daemon("run", "--config", str(device_config(folder, lock_s=4))))
    code, shot = device.screen_code()
    wrong = f"{(int(code) + 1) % 1_000_000:06d}"
    for left in (4, 3, 2, 1):
        error = try_pair(device, wrong)
        assert "wrong code" in error and f"{left} attempts left" in error, error
    error = try_pair(device, wrong)
    assert "wrong code" in error and "locked" in error
    new_code, _ = device.screen_code(newer_than=shot)
    assert new_code != code
    locked_at = time.monotonic()
    for attempt in (code, new_code):  # refused while locked, even with the right code
        error = try_pair(device, attempt)
        if time.monotonic() - locked_at < 3:
            assert "locked" in error and "try again in" in error, error
    assert wait_for(lambda: time.monotonic() - locked_at > 4.5, 10)
    assert try_pair(device, new_code, bundle_for(device, tls_broker, fleet_pki)) == ""


def test_a_recorded_exchange_replayed_is_refused(
    tmp_path: Path, daemon: Callable[..., DaemonProcess]
) -> None:
    folder = tmp_path / "dev"
    device = Device(folder, daemon("run", "--config", str(device_config(folder))))
    code, _ = device.screen_code()

    async def record() -> list[bytes]:
        """A genuine session with the right code, recorded up to the CSR, then dropped."""
        reader, writer = await asyncio.open_connection("127.0.0.1", device.port)
        session = pairing.OpsSession(device.id, code)
        sent = [pairing.frame(session.hello())]
        writer.write(sent[0])
        answer = await read_message(reader, 10)
        assert isinstance(answer, pairing.Pake)
        sent.append(pairing.frame(session.pake(answer)))
        writer.write(sent[1])
        assert isinstance(await read_message(reader, 10), pairing.Csr)
        writer.close()
        return sent

    async def replay(sent: list[bytes]) -> pairing.Message:
        reader, writer = await asyncio.open_connection("127.0.0.1", device.port)
        writer.write(sent[0])
        answer = await read_message(reader, 10)
        assert isinstance(answer, pairing.Pake)  # fresh randomness: a different answer
        writer.write(sent[1])
        refusal = await read_message(reader, 10)
        writer.close()
        return refusal

    recorded = asyncio.run(record())
    time.sleep(0.3)
    refusal = asyncio.run(replay(recorded))
    assert isinstance(refusal, pairing.Refused) and refusal.reason == "wrong_code"
    assert refusal.attempts_left == 4  # counted
    assert not (folder / "state" / "bundle.json").exists()


def test_a_fake_device_gets_no_bundle(tmp_path: Path) -> None:
    """An impostor answering pairing without knowing the code: ops sends it nothing."""
    received: list[pairing.Message] = []

    async def impostor(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        session = pairing.DeviceSession("omo-victimvictimvi", "000000")
        try:
            while True:
                msg = await read_message(reader, 5)
                received.append(msg)
                if isinstance(msg, pairing.Hello):
                    await send(writer, session.hello(msg, 5))
        except (asyncio.IncompleteReadError, ConnectionError, TimeoutError):
            pass
        finally:
            writer.close()

    made: list[bytes] = []

    async def main() -> str:
        server = await asyncio.start_server(impostor, "127.0.0.1", 0)
        port = server.sockets[0].getsockname()[1]
        try:
            await ops.pair_at(
                "127.0.0.1",
                port,
                "omo-victimvictimvi",
                code="482913",
                make_bundle=lambda csr: made.append(csr) or b"{}",
                say=lambda _l: None,
            )
        except ops.OpsError as exc:
            return str(exc)
        finally:
            await asyncio.sleep(0.2)
            server.close()
            await server.wait_closed()
        return ""

    error = asyncio.run(main())
    assert "wrong code" in error and "nothing was sent" in error
    assert [type(m) for m in received] == [pairing.Hello]  # no confirmation, no bundle
    assert made == []


def test_reprovision_returns_to_pairing_and_factory_reset_wipes(
    tmp_path: Path,
    daemon: Callable[..., DaemonProcess],
    tls_broker: Mosquitto,
    fleet_pki: FleetPki,
) -> None:
    folder = tmp_path / "dev"
    config = device_config(folder)
    proc = daemon("run", "--config", str(config))
    device = Device(folder, proc)
    code, shot = device.screen_code()
    central = TlsClient(tls_broker, fleet_pki, "central")
    base = f"omo/v1/{STORE}/{device.id}"
    central.client.subscribe([(f"{base}/state", 1), (f"{base}/cmd/result", 1)])
    assert try_pair(device, code, bundle_for(device, tls_broker, fleet_pki)) == ""
    assert wait_for(lambda: central.seen(f"{base}/state", state="online"), 20)

    now = int(time.time() * 1000)
    command = {
        "cmd_id": "c-1",
        "cmd": "reprovision",
        "args": {},
        "ts": now,
        "expires_ts": now + 60_000,
    }
    central.client.publish(f"{base}/cmd", json.dumps(command), qos=1)
    assert wait_for(lambda: central.seen(f"{base}/cmd/result", cmd_id="c-1", ok=True), 20)
    assert wait_for(lambda: central.seen(f"{base}/state", state="offline"), 20)
    new_code, _ = device.screen_code(newer_than=shot)  # the pairing slide, a new code
    assert new_code != code
    state = folder / "state"
    assert not (state / "bundle.json").exists() and not (state / "client.crt").exists()
    assert json.loads((state / "identity.json").read_text())["device_id"] == device.id
    central.close()

    busy = omo_edge("factory-reset", "--yes", "--config", str(config))
    assert busy.returncode == 2, busy.stderr
    assert "stop it first (sudo systemctl stop omo-edge), then run factory-reset" in busy.stderr
    proc.stop()
    reset = omo_edge("factory-reset", "--yes", "--config", str(config))
    assert reset.returncode == 0, reset.stderr
    for name in ("identity.json", "device.key", "outbox.sqlite3", "nonces.json"):
        assert not (state / name).exists()
    fresh = Device(folder, daemon("run", "--config", str(config)))
    assert fresh.id != device.id  # the next start is a new device


def test_auto_broker_is_found_by_mdns_and_verified_by_its_certificate(
    tmp_path: Path,
    daemon: Callable[..., DaemonProcess],
    tls_broker: Mosquitto,
    fleet_pki: FleetPki,
) -> None:
    """`mqtt.host = "auto"`: the store broker announced as `_mqtt._tcp` (host name
    "localhost", which its certificate names) is found and used over TLS."""
    import socket

    from zeroconf import IPVersion, ServiceInfo, Zeroconf

    cert, key = fleet_pki.client("screen-auto")
    config = device_config(tmp_path / "dev")
    text = config.read_text() + "\n".join(
        [
            "[device]",
            f'store_id = "{STORE}"',
            'device_id = "screen-auto"',
            "[mqtt]",
            'host = "auto"',
            f'tls_ca = "{fleet_pki.ca_cert}"',
            f'tls_cert = "{cert}"',
            f'tls_key = "{key}"',
        ]
    )
    config.write_text(text + "\n")
    zc = Zeroconf(interfaces=["127.0.0.1"], ip_version=IPVersion.V4Only)
    info = ServiceInfo(
        "_mqtt._tcp.local.",
        f"store broker {tls_broker.port}._mqtt._tcp.local.",
        addresses=[socket.inet_aton("127.0.0.1")],
        port=tls_broker.port,
        server="localhost.",
    )
    zc.register_service(info)
    watcher = TlsClient(tls_broker, fleet_pki, "watcher")
    watcher.client.subscribe(f"omo/v1/{STORE}/screen-auto/state", qos=1)
    try:
        proc = daemon("run", "--config", str(config))
        assert wait_for(
            lambda: watcher.seen(f"omo/v1/{STORE}/screen-auto/state", state="online"), 40
        ), proc.stdout
        assert f"connected to broker localhost:{tls_broker.port}" in proc.stdout
    finally:
        watcher.close()
        zc.unregister_service(info)
        zc.close()


def test_auto_broker_needs_tls(tmp_path: Path) -> None:
    config = write_config(tmp_path / "edge.toml", {"mqtt": {"host": "auto"}})
    result = omo_edge("run", "--config", str(config), "--duration", "1")
    assert result.returncode == 2 and "mqtt.tls_ca" in result.stderr
