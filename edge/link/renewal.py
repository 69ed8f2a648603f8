"""The device renews its own client certificate over MQTT, before it expires.

When `tls_cert` is within `[mqtt] renew_before` of its expiry, the device makes a
new key and a CSR for it (CN = its id) and publishes it on `P/csr` over its
current, still valid mutual-TLS connection. The CA service (`omo-ops ca serve`)
answers on `P/cert`. The device checks the answer (CN is its id, the certificate
holds the new key, EKU clientAuth, a chain through a CA allowed to issue client
certificates to a root in its own `tls_ca`), stores key and certificate next to
the current pair (`device.next.key`, `client.next.crt`, each written atomically),
and tries them at once on a connection of its own (client id `{device_id}~renew`).
Only when that connection worked does it move the new pair over the old one
(key first, then certificate); both MQTT connections take it up at their next
reconnect (edge/link/session.py reloads on a change of the files). Until then,
and after any refusal, the old pair stays; it asks again after `renew_retry`.

A crash between the two renames leaves the new key with the old certificate:
`recover` (run before the link is built) completes the switch. A staged pair
left by a crash before the switch is tried again first thing.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import logging
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from edge.config.keys import duration_s
from edge.errors import EdgeError, PayloadRejected
from edge.files import write_atomic
from edge.ids import new_id
from edge.link.client import new_client
from edge.link.router import Route
from edge.link.schemas import encode, parse
from edge.link.schemas.central import CertDeclined, CertIssued, CertReply
from edge.link.schemas.device import CertRequest
from edge.link.session import BrokerSettings, Incoming, MqttLink
from edge.link.tls import TlsFiles, client_context
from edge.link.topics import Topics
from edge.provision import pki
from edge.quiet import QuietLog
from edge.runtime.service import Service
from edge.runtime.supervisor import Task

if TYPE_CHECKING:
    from edge.config.sections import MqttConfig

log = logging.getLogger(__name__)

Record = Callable[[str, dict[str, Any]], None]
TRIAL_TIMEOUT_S = 15.0
TRIAL_SUFFIX = "~renew"
"""The trial connection's client id suffix (`~` never occurs in a device id)."""


def staged(path: Path) -> Path:
    """Where the new half of the pair waits: `device.key` -> `device.next.key` (still a
    `.key`, so the daemon's key-permission check covers it)."""
    return path.with_name(f"{path.stem}.next{path.suffix}")


def recover(mqtt: MqttConfig) -> None:
    """Before the link is built: finish a switch a crash interrupted (the new key is in
    place, its certificate still staged), drop a staged key without its certificate."""
    if not (mqtt.tls_cert and mqtt.tls_key):
        return
    cert, key = Path(mqtt.tls_cert), Path(mqtt.tls_key)
    next_cert, next_key = staged(cert), staged(key)
    if next_cert.exists() and not next_key.exists():
        try:
            if pki.matches_key(next_cert.read_bytes(), pki.load_key(key.read_bytes())):
                next_cert.replace(cert)
                log.info("completed the switch to the renewed certificate %s", cert)
                return
        except (OSError, pki.PkiError):
            pass
        with contextlib.suppress(OSError):
            next_cert.unlink()
    elif next_key.exists() and not next_cert.exists():
        with contextlib.suppress(OSError):
            next_key.unlink()


class RenewalRefused(EdgeError):
    def __init__(self, reason: str, detail: str) -> None:
        self.reason, self.detail = reason, detail
        super().__init__(f"{reason}: {detail}")


@dataclass(frozen=True)
class _Request:
    request_id: str
    key: pki.PrivateKey
    old_not_after: dt.datetime


class RenewalService(Service):
    name = "renewal"

    def __init__(
        self,
        mqtt: MqttConfig,
        topics: Topics,
        link: MqttLink,
        *,
        record: Record,
        now: Callable[[], float] = time.time,
    ) -> None:
        self.cert = Path(mqtt.tls_cert)
        self.key = Path(mqtt.tls_key)
        self.ca = Path(mqtt.tls_ca)
        self.before_s = duration_s(mqtt.renew_before)
        self.retry_s = duration_s(mqtt.renew_retry)
        self.topics = topics
        self.link = link
        self._record = record
        self._now = now
        self._answers: asyncio.Queue[CertReply] = asyncio.Queue(16)
        self._quiet = QuietLog(log)
        self.renewed = 0
        self.refused = 0

    @property
    def broker(self) -> BrokerSettings:
        return self.link.broker

    def routes(self, topics: Topics) -> list[Route]:
        return [Route("cert", self._on_cert, topic=topics.cert)]

    def tasks(self) -> list[Task]:
        return [Task("cert-renewal", self._run)]

    # -- the answer arrives ----------------------------------------------------------------
    async def _on_cert(self, item: Incoming) -> bool:
        reply: CertReply = parse(item.topic, item.payload, CertReply)  # type: ignore[arg-type]
        try:
            self._answers.put_nowait(reply)
        except asyncio.QueueFull as exc:
            raise PayloadRejected(item.topic, "too many certificate answers at once") from exc
        return True

    # -- the loop ----------------------------------------------------------------------------
    async def _run(self) -> None:
        await self._resume()
        retry_at = 0.0
        while True:
            try:
                not_after = await asyncio.to_thread(self._not_after)
            except (OSError, pki.PkiError) as exc:
                self._quiet.problem(
                    "read", "cannot read the client certificate %s: %s", self.cert, exc
                )
                await asyncio.sleep(60)
                continue
            now = self._now()
            wait = max(not_after.timestamp() - self.before_s - now, retry_at - now)
            if wait > 0:
                await asyncio.sleep(min(wait, 3600.0))  # woken hourly: the clock may jump
                continue
            await self.link.connected.wait()
            request = self._ask(not_after)
            try:
                reply = await asyncio.wait_for(self._answer(request.request_id), self.retry_s)
            except TimeoutError:
                log.warning(
                    "no answer on %s within %.0f s; asking again", self.topics.cert, self.retry_s
                )
                continue
            try:
                await self._take(reply, request)
            except RenewalRefused as exc:
                self._refuse(exc)
                retry_at = self._now() + self.retry_s

    def _not_after(self) -> dt.datetime:
        return pki.expires(self.cert.read_bytes())

    def _ask(self, not_after: dt.datetime) -> _Request:
        key = pki.new_key()
        request = _Request(new_id(), key, not_after)
        csr = pki.make_csr(key, self.topics.device_id)
        payload = CertRequest(
            request_id=request.request_id,
            csr_pem=csr.decode(),
            not_after_ts=int(not_after.timestamp() * 1000),
            ts=int(self._now() * 1000),
        )
        self.link.publish(self.topics.csr, encode(payload))
        log.info(
            "client certificate %s expires %s, within renew_before (%s): asked for a new one on %s",
            self.cert,
            f"{not_after:%Y-%m-%d %H:%M:%S} UTC",
            _words(self.before_s),
            self.topics.csr,
        )
        return request

    async def _answer(self, request_id: str) -> CertReply:
        while True:
            reply = await self._answers.get()
            if reply.request_id == request_id:
                return reply
            log.info("an answer on %s for another request ignored", self.topics.cert)

    async def _take(self, reply: CertReply, request: _Request) -> None:
        if isinstance(reply, CertDeclined):
            raise RenewalRefused("ca_refused", f"{reply.reason}: {reply.detail}".rstrip(": "))
        assert isinstance(reply, CertIssued)
        cert_pem = reply.cert_pem.encode()
        await asyncio.to_thread(self._check, cert_pem, reply.chain_pem.encode(), request)
        try:
            await asyncio.to_thread(self._stage, cert_pem, reply.chain_pem.encode(), request.key)
        except OSError as exc:
            raise RenewalRefused(
                "store_failed",
                f"cannot write next to {self.cert} and {self.key} ({exc}); the service user "
                "needs to be able to write there",
            ) from exc
        log.info(
            "the certificate on %s passed the checks (CN %s, the new key, clientAuth, a chain "
            "to tls_ca); stored as %s and %s next to the pair in use",
            self.topics.cert,
            self.topics.device_id,
            staged(self.cert),
            staged(self.key),
        )
        await self._try_and_switch(request.old_not_after)

    def _check(self, cert_pem: bytes, chain_pem: bytes, request: _Request) -> None:
        try:
            cert = pki.check_device_cert(
                cert_pem,
                device_id=self.topics.device_id,
                key=request.key.public_key(),
                trust_pem=self.ca.read_bytes(),
                chain_pem=chain_pem,
            )
        except pki.CertRefused as exc:
            raise RenewalRefused(exc.reason, exc.detail) from exc
        except OSError as exc:
            raise RenewalRefused("bad_chain", f"cannot read tls_ca {self.ca}: {exc}") from exc
        if cert.not_valid_after_utc <= request.old_not_after:
            raise RenewalRefused(
                "not_newer",
                f"it expires {cert.not_valid_after_utc:%Y-%m-%d %H:%M:%S} UTC, no later than "
                "the certificate in use",
            )

    def _stage(self, cert_pem: bytes, chain_pem: bytes, key: pki.PrivateKey) -> None:
        """Key, then certificate followed by its intermediates (the broker may need them)."""
        write_atomic(staged(self.key), pki.key_pem(key))
        chain = chain_pem.strip()
        write_atomic(
            staged(self.cert), cert_pem.strip() + b"\n" + (chain + b"\n" if chain else b"")
        )

    async def _try_and_switch(self, old_not_after: dt.datetime) -> None:
        log.info(
            "trying the new pair on a connection of its own (client id %s%s)",
            self.topics.device_id,
            TRIAL_SUFFIX,
        )
        why = await asyncio.to_thread(self._trial)
        if why is not None:
            await asyncio.to_thread(self._unstage)
            raise RenewalRefused("trial_failed", why)
        cert_pem = staged(self.cert).read_bytes()
        await asyncio.to_thread(self._switch)
        cert = pki.load_cert(cert_pem)
        self.renewed += 1
        log.info(
            "client certificate renewed (serial %x, valid until %s UTC); the new pair worked on "
            "a connection of its own and is used from the next reconnect",
            cert.serial_number,
            f"{cert.not_valid_after_utc:%Y-%m-%d %H:%M:%S}",
        )
        self._record(
            "cert.renewed",
            {
                "serial": f"{cert.serial_number:x}",
                "not_after_ts": int(cert.not_valid_after_utc.timestamp() * 1000),
                "previous_not_after_ts": int(old_not_after.timestamp() * 1000),
            },
        )

    def _trial(self) -> str | None:
        """Connect once with the staged pair: None when the broker took it, else why not."""
        b = self.broker
        try:
            ctx = client_context(
                TlsFiles(str(self.ca), str(staged(self.cert)), str(staged(self.key)))
            )
        except OSError as exc:
            return f"the new pair cannot be loaded: {exc}"
        client = new_client(
            self.topics.device_id + TRIAL_SUFFIX, tls=ctx, username=b.username, password=b.password
        )
        done = threading.Event()
        outcome: list[str | None] = []

        def on_connect(_c: Any, _u: Any, _f: Any, reason: Any, _p: Any) -> None:
            outcome.append(f"the broker refused it: {reason}" if reason.is_failure else None)
            done.set()

        def on_fail(_c: Any, _u: Any) -> None:
            outcome.append(f"no connection with it: {sys.exc_info()[1] or 'refused'}")
            done.set()

        def on_disconnect(_c: Any, _u: Any, _f: Any, reason: Any, _p: Any) -> None:
            # Over TLS 1.3 the broker checks our certificate after the handshake: a refusal
            # is the connection closed before CONNACK, not a failed connect.
            if not done.is_set():
                outcome.append(f"the broker closed the connection before taking it ({reason})")
                done.set()

        client.on_connect = on_connect
        client.on_connect_fail = on_fail
        client.on_disconnect = on_disconnect
        client.connect_async(b.host, b.port, b.keepalive_s, clean_start=True)
        client.loop_start()
        try:
            if not done.wait(TRIAL_TIMEOUT_S):
                return f"no answer from the broker within {TRIAL_TIMEOUT_S:.0f} s"
            return outcome[0]
        finally:
            client.disconnect()
            client.loop_stop()

    def _switch(self) -> None:
        """Key first, then certificate (`recover` completes it after a crash in between)."""
        staged(self.key).replace(self.key)
        staged(self.cert).replace(self.cert)

    def _unstage(self) -> None:
        for path in (staged(self.cert), staged(self.key)):
            with contextlib.suppress(OSError):
                path.unlink()

    async def _resume(self) -> None:
        """A staged pair left by a crash before the switch: checked and tried again."""
        next_cert, next_key = staged(self.cert), staged(self.key)
        if not (next_cert.exists() and next_key.exists()):
            return
        try:
            old = await asyncio.to_thread(self._not_after)
            key = pki.load_key(next_key.read_bytes())
            request = _Request("resumed", key, old)
            pem = next_cert.read_bytes()  # the certificate, then its intermediates
            await asyncio.to_thread(self._check, pem, pem, request)
            await self.link.connected.wait()
            await self._try_and_switch(old)
        except (OSError, pki.PkiError) as exc:
            log.warning("staged certificate pair not usable (%s); dropped", exc)
            await asyncio.to_thread(self._unstage)
        except RenewalRefused as exc:
            await asyncio.to_thread(self._unstage)
            self._refuse(exc)

    def _refuse(self, exc: RenewalRefused) -> None:
        self.refused += 1
        log.warning(
            "certificate renewal refused (%s); keeping the current pair, asking again in %s",
            exc,
            _words(self.retry_s),
        )
        self._record("cert.rejected", {"reason": exc.reason, "detail": exc.detail})


def _words(seconds: float) -> str:
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
        if seconds >= size and seconds % size == 0:
            return f"{seconds / size:.0f}{unit}"
    return f"{seconds:g}s"
