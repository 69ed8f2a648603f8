"""The ops side of provisioning: find devices, pair one, wait until it is online.

Progress goes to `say` one line at a time; every failure is an OpsError whose
message an ops person can act on (wrong code and attempts left, locked and for
how long, already provisioned, unreachable, certificate mismatch, not found).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import ssl
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

from zeroconf import IPVersion, ServiceBrowser, ServiceListener, Zeroconf

from edge.ops.errors import OpsError
from edge.provision import pairing, pki
from edge.provision.announce import SERVICE_TYPE, addresses
from edge.provision.bundle import Broker, Bundle, encode
from edge.provision.service import read_message, send

Say = Callable[[str], None]


@dataclass(frozen=True, slots=True)
class Device:
    id: str
    model: str
    version: str
    provisioned: bool
    store: str
    address: str
    pair_port: int


class _Collector(ServiceListener):
    def __init__(self) -> None:
        self.names: set[str] = set()
        self.lock = threading.Lock()

    def add_service(self, zc: Zeroconf, type_: str, name: str) -> None:
        with self.lock:
            self.names.add(name)

    update_service = add_service

    def remove_service(self, zc: Zeroconf, type_: str, name: str) -> None:
        pass


def _zeroconf(interface: str | None) -> Zeroconf:
    if interface is None:
        return Zeroconf(ip_version=IPVersion.V4Only)
    found = addresses([interface])
    if not found:
        raise OpsError(f"interface {interface} has no IPv4 address")
    return Zeroconf(interfaces=found, ip_version=IPVersion.V4Only)


def browse(
    interface: str | None = None, wait_s: float = 3.0, want: str | None = None
) -> list[Device]:
    """Devices announcing `_omo-edge._tcp` within `wait_s` (sooner once `want` is seen)."""
    zc = _zeroconf(interface)
    listener = _Collector()
    browser = ServiceBrowser(zc, SERVICE_TYPE, listener)
    devices: dict[str, Device] = {}
    try:
        deadline = time.monotonic() + wait_s
        while time.monotonic() < deadline:
            with listener.lock:
                names = sorted(listener.names - set(devices))
            for name in names:
                info = zc.get_service_info(SERVICE_TYPE, name, 1500)
                if info is None:
                    continue
                p = {
                    k.decode(errors="replace"): (v or b"").decode(errors="replace")
                    for k, v in info.properties.items()
                }
                ips = info.parsed_addresses(IPVersion.V4Only)
                if not ips or "id" not in p:
                    continue
                devices[name] = Device(
                    p["id"],
                    p.get("model", ""),
                    p.get("version", ""),
                    p.get("provisioned") == "1",
                    p.get("store", ""),
                    ips[0],
                    int(p.get("pair_port") or info.port or 0),
                )
            if want is not None and any(d.id == want for d in devices.values()):
                break
            time.sleep(0.1)
    finally:
        browser.cancel()
        zc.close()
    return sorted(devices.values(), key=lambda d: d.id)


def table(devices: list[Device]) -> str:
    rows = [("ID", "MODEL", "VERSION", "PROVISIONED", "STORE", "PAIRING AT")]
    rows += [
        (
            d.id,
            d.model,
            d.version,
            "yes" if d.provisioned else "no",
            d.store or "-",
            f"{d.address}:{d.pair_port}",
        )
        for d in devices
    ]
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    return "\n".join(
        "  ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)).rstrip() for r in rows
    )


def parse_broker(url: str) -> Broker:
    """`mqtts://host:port` (TLS always; port 8883 by default)."""
    parts = urlsplit(url)
    if parts.scheme != "mqtts" or not parts.hostname:
        raise OpsError(f"--broker {url!r}: give mqtts://HOST[:PORT] (devices always use TLS)")
    try:
        return Broker(parts.hostname, parts.port or 8883)
    except ValueError as exc:
        raise OpsError(f"--broker {url!r}: {exc}") from exc


@dataclass(frozen=True)
class Signer:
    """How the CSR becomes a certificate: signed here with a local CA, or by the
    platform's CA through files (`csr_out`: write <id>.csr, wait for <id>.crt)."""

    ca_pem: bytes
    ca_key_pem: bytes | None = None
    csr_out: Path | None = None
    wait_s: float = 600.0
    record_in: Path | None = None  # a CA folder (`ca init`): `ca revoke` can list it then

    def sign(self, csr_pem: bytes, device_id: str, say: Say) -> bytes:
        try:
            pki.load_csr(csr_pem)
            if self.ca_key_pem is not None:
                cert = pki.sign_csr(
                    csr_pem, pki.Issued(self.ca_pem, self.ca_key_pem), expected_cn=device_id
                )
                if self.record_in is not None:
                    from edge.ops.ca import record_issued

                    record_issued(self.record_in, device_id, cert)
                return cert
        except pki.PkiError as exc:
            raise OpsError(f"certificate mismatch: {exc}") from exc
        assert self.csr_out is not None
        self.csr_out.mkdir(parents=True, exist_ok=True)
        csr_file, crt_file = self.csr_out / f"{device_id}.csr", self.csr_out / f"{device_id}.crt"
        csr_file.write_bytes(csr_pem)
        say(f"wrote {csr_file}: have the platform's CA sign it and put the certificate at")
        say(f"  {crt_file}   (waiting up to {self.wait_s:.0f} s)")
        deadline = time.monotonic() + self.wait_s
        while not crt_file.exists():
            if time.monotonic() > deadline:
                raise OpsError(f"no {crt_file} after {self.wait_s:.0f} s; pair again")
            time.sleep(0.5)
        time.sleep(0.2)  # let a copy finish
        return crt_file.read_bytes()


def check_cert(cert_pem: bytes, csr_pem: bytes, ca_pem: bytes, device_id: str) -> None:
    try:
        cert = pki.load_cert(cert_pem)
        cn = pki.common_name(cert)
        csr = pki.load_csr(csr_pem)
    except pki.PkiError as exc:
        raise OpsError(f"certificate mismatch: {exc}") from exc
    if cn != device_id:
        raise OpsError(f"certificate mismatch: it is for {cn!r}, the device is {device_id}")
    if cert.public_key() != csr.public_key():
        raise OpsError("certificate mismatch: it is not for the key in the device's request")
    if not pki.issued_by(cert_pem, ca_pem):
        raise OpsError("certificate mismatch: --ca did not issue it")


REFUSALS = {
    "locked": "pairing is locked after too many wrong codes",
    "provisioned": "the device is already provisioned (reprovision or factory-reset it first)",
    "busy": "someone else is pairing this device right now",
    "wrong_code": "wrong code",
    "bundle_rejected": "the device refused the bundle",
    "protocol": "the device does not understand this request",
}


def _refused(msg: pairing.Refused) -> OpsError:
    text = f"{REFUSALS[msg.reason]}: {msg.detail}" if msg.detail else REFUSALS[msg.reason]
    return OpsError(text)


async def pair_at(
    address: str,
    port: int,
    device_id: str,
    *,
    code: str,
    make_bundle: Callable[[bytes], bytes],
    say: Say,
    timeout_s: float = 30.0,
) -> None:
    """One pairing session; `make_bundle(csr_pem)` returns the bundle JSON (blocking is ok)."""
    if not (len(code) == pairing.CODE_DIGITS and code.isdigit()):
        raise OpsError(f"the code is {pairing.CODE_DIGITS} digits, as shown on the screen")
    try:
        async with asyncio.timeout(timeout_s):
            reader, writer = await asyncio.open_connection(address, port)
    except (OSError, TimeoutError) as exc:
        raise OpsError(f"device {device_id} unreachable at {address}:{port}: {exc}") from exc
    try:
        session = pairing.OpsSession(device_id, code)
        await send(writer, session.hello())
        answer = await read_message(reader, timeout_s)
        if isinstance(answer, pairing.Refused):
            raise _refused(answer)
        if not isinstance(answer, pairing.Pake):
            raise OpsError("the device answered out of turn; try again")
        try:
            confirm = session.pake(answer)
        except pairing.PairingFailed as exc:
            raise OpsError(f"wrong code: {exc.detail}") from exc
        say("code confirmed by both sides; session encrypted")
        await send(writer, confirm)
        answer = await read_message(reader, timeout_s)
        if isinstance(answer, pairing.Refused):
            raise _refused(answer)
        if not isinstance(answer, pairing.Csr):
            raise OpsError("the device answered out of turn; try again")
        csr = session.open_csr(answer)
        say("received the device's certificate request")
        bundle_json = await asyncio.to_thread(make_bundle, csr)
        await send(writer, session.seal_bundle(bundle_json))
        say("bundle sent; the device is checking it")
        answer = await read_message(reader, timeout_s)
        if isinstance(answer, pairing.Refused):
            raise _refused(answer)
        if not isinstance(answer, pairing.Done):
            raise OpsError("the device answered out of turn")
    except (ConnectionError, asyncio.IncompleteReadError) as exc:
        raise OpsError(f"device {device_id} closed the connection: {exc}") from exc
    except TimeoutError as exc:
        raise OpsError(f"device {device_id} stopped answering") from exc
    except pairing.FrameError as exc:
        raise OpsError(f"device {device_id} sent something unreadable: {exc}") from exc
    finally:
        writer.close()
        with contextlib.suppress(ConnectionError, OSError):
            await writer.wait_closed()


def bundle_maker(
    device_id: str,
    store_id: str,
    broker: Broker,
    *,
    signer: Signer,
    say: Say,
    keys: dict[str, dict[str, str]],
) -> Callable[[bytes], bytes]:
    def make(csr_pem: bytes) -> bytes:
        cert = signer.sign(csr_pem, device_id, say)
        check_cert(cert, csr_pem, signer.ca_pem, device_id)
        say(f"certificate issued for {device_id}")
        return encode(
            Bundle(
                store_id=store_id,
                device_id=device_id,
                broker=broker,
                ca_pem=signer.ca_pem.decode(),
                cert_pem=cert.decode(),
                content_keys=keys.get("content", {}),
                checkin_keys=keys.get("checkin", {}),
                visitor_keys=keys.get("visitor", {}),
            )
        )

    return make


def find(device_id: str, interface: str | None, wait_s: float) -> Device:
    for device in browse(interface, wait_s, want=device_id):
        if device.id == device_id:
            return device
    raise OpsError(
        f"device {device_id} not found on the LAN in {wait_s:.0f} s "
        "(is it on, on this network, and showing its pairing screen?)"
    )


def verify(
    device_id: str,
    broker: Broker,
    *,
    ca: Path,
    cert: Path,
    key: Path,
    timeout_s: float,
    prefix: str = "omo/v1",
) -> dict[str, object]:
    """Wait for the device's retained `P/state` to say online; returns that state."""
    import paho.mqtt.client as mqtt

    from edge.link.client import new_client
    from edge.link.tls import TlsFiles

    got: dict[str, object] = {}
    done = threading.Event()
    problem: list[str] = []

    def on_connect(client: mqtt.Client, _u: object, _f: object, reason: object, _p: object) -> None:
        if getattr(reason, "is_failure", False):
            problem.append(f"the broker refused the ops credentials: {reason}")
            done.set()
            return
        client.subscribe(f"{prefix}/+/{device_id}/state", qos=1)

    def on_message(_c: mqtt.Client, _u: object, msg: mqtt.MQTTMessage) -> None:
        try:
            state = json.loads(msg.payload)
        except ValueError:
            return
        if isinstance(state, dict) and state.get("state") == "online":
            got.update(state, topic=msg.topic)
            done.set()

    try:
        client = new_client(f"omo-ops-{time.time_ns()}", tls=TlsFiles(str(ca), str(cert), str(key)))
    except OSError as exc:  # ssl.SSLError included
        raise OpsError(f"cannot use the TLS files {ca}, {cert}, {key}: {exc}") from exc
    client.on_connect = on_connect
    client.on_message = on_message
    try:
        client.connect(broker.host, broker.port, 30)
    except (OSError, ssl.SSLError) as exc:
        raise OpsError(f"broker {broker.host}:{broker.port} unreachable: {exc}") from exc
    client.loop_start()
    try:
        if not done.wait(timeout_s):
            raise OpsError(f"device {device_id} did not come online within {timeout_s:.0f} s")
    finally:
        client.disconnect()
        client.loop_stop()
    if problem:
        raise OpsError(problem[0])
    return got
