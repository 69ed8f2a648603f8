"""`omo-ops ca serve`: the online signer. Renewals from `P/csr` answered on `P/cert`, and a
CRL that never runs out.

It connects with an identity of its own (`omo-ca`, on the service listener) and may
read every `P/csr` and write every `P/cert` (the fleet ACL). Each request is judged
by edge/ops/ca.py (`sign_renewal`: CN = the device in the topic, in the inventory for
that store, not revoked, not signed for in the last hour); the answer carries the
request's id. Every `crl_check_s` it looks at the CRL and re-issues it once half its
validity is gone, then signals the broker (`--mosquitto-pid-file`) to read it again.
`kick` ends a revoked device's live connections (Mosquitto checks the CRL only when
a connection starts).
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import msgspec

from edge.link.client import new_client
from edge.link.schemas import encode
from edge.link.schemas.central import CertDeclined, CertIssued
from edge.link.schemas.device import CertRequest
from edge.ops import ca
from edge.ops.broker import Broker, Connection, _tls_context
from edge.ops.errors import OpsError
from edge.ops.fleet_acl import Device

log = logging.getLogger(__name__)


@dataclass
class CaService:
    folder: Path
    broker: Broker
    inventory: Callable[[], list[Device]]
    days: float = 365
    crl_days: float = 30
    crl_check_s: float = 3600
    min_interval_s: float = ca.RENEW_INTERVAL_S
    pid_file: Path | None = None
    crl_out: Path | None = None
    say: Callable[[str], None] = print
    signed: int = 0
    refused: int = 0
    ready: threading.Event = field(default_factory=threading.Event)

    def serve(self, stop: threading.Event) -> None:
        """Answer requests until `stop` is set; the CRL is kept current meanwhile."""
        topic = f"{self.broker.prefix}/+/+/csr"
        with Connection(self.broker, [topic], "omo-ca") as conn:
            self.say(f"serving certificate renewals on {topic} ({self.broker.where})")
            self.ready.set()
            next_check = 0.0
            while not stop.is_set():
                if time.monotonic() >= next_check:
                    self.keep_crl_current()
                    next_check = time.monotonic() + self.crl_check_s
                message = conn.get(0.2)
                if message is None or message.retain:
                    continue
                reply_topic, payload = self.answer(message.topic, message.payload)
                if reply_topic:
                    conn.send(reply_topic, payload)

    def keep_crl_current(self) -> None:
        if not ca.crl_due(self.folder, self.crl_days):
            return
        with ca.locked(self.folder) as state:
            path = ca.reissue_crl(self.folder, state, self.crl_days)
            number = state["crl_number"]
        if self.crl_out is not None:
            ca.copy_crl(self.folder, self.crl_out)
            path = self.crl_out
        self.say(f"CRL {number} issued ({path}), valid {self.crl_days:g} days")
        if self.pid_file is not None:
            self.say(ca.sighup(self.pid_file))

    def answer(self, topic: str, payload: bytes) -> tuple[str | None, bytes]:
        """The `P/cert` topic and answer for a `P/csr` message (None: not answerable)."""
        parts = topic.split("/")
        if len(parts) < 3 or parts[-1] != "csr":
            return None, b""
        store_id, device_id = parts[-3], parts[-2]
        reply_topic = "/".join([*parts[:-1], "cert"])
        try:
            request = msgspec.json.decode(payload, type=CertRequest)
        except msgspec.DecodeError as exc:
            self.refused += 1
            self.say(f"{device_id}: malformed request on {topic}: {exc}")
            return None, b""  # no request id to answer to
        try:
            signed = ca.sign_renewal(
                self.folder,
                request.csr_pem.encode(),
                device_id=device_id,
                store_id=store_id,
                inventory=self.inventory(),
                days=self.days,
                min_interval_s=self.min_interval_s,
            )
        except ca.Refused as exc:
            self.refused += 1
            self.say(f"{device_id}: renewal refused: {exc}")
            reply: Any = CertDeclined(
                request_id=request.request_id, reason=exc.reason, detail=exc.detail[:1000]
            )
            return reply_topic, encode(reply)
        self.signed += 1
        self.say(f"{device_id}: renewed, serial {signed.serial:x}")
        reply = CertIssued(
            request_id=request.request_id,
            cert_pem=signed.cert_pem.decode(),
            chain_pem=signed.chain_pem.decode(),
        )
        return reply_topic, encode(reply)


def kick(broker: Broker, device_id: str, suffixes: tuple[str, ...] = ("", "~assets")) -> None:
    """End a device's live connections: Mosquitto closes a client when another connects
    with its client id. The tool's own identity takes each id over and leaves at once
    (clean start, no session), so nothing of the device's session remains either."""
    tls = _tls_context(broker.tls) if broker.tls else None
    for suffix in suffixes:
        done = threading.Event()
        client = new_client(device_id + suffix, tls=tls)
        client.on_connect = lambda *_a, done=done: done.set()
        try:
            client.connect(broker.host, broker.port, keepalive=10, clean_start=True)
        except OSError as exc:  # ssl.SSLError included
            raise OpsError(
                f"broker {broker.where}: cannot close {device_id}'s connections ({exc}); "
                "the CRL and ACL are written: restart Mosquitto to drop them"
            ) from exc
        client.loop_start()
        try:
            done.wait(10)
        finally:
            client.disconnect()
            client.loop_stop()
