"""The device's pairing endpoint: one session at a time over TCP, the Guard in charge.

Every session that got our SPAKE2 answer but never proved the code (a wrong code,
a replayed recording, a timeout, a dropped connection) counts as a wrong attempt:
otherwise a fake ops tool could take one guess per connection for free.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Awaitable, Callable

from edge.errors import EdgeError
from edge.provision import pairing
from edge.provision.bundle import BundleRejected
from edge.quiet import QuietLog

log = logging.getLogger(__name__)

OnBundle = Callable[[bytes], Awaitable[None]]
"""Checks, saves and applies a bundle; raises BundleRejected to refuse it."""


async def read_message(reader: asyncio.StreamReader, timeout_s: float) -> pairing.Message:
    async with asyncio.timeout(timeout_s):
        n = pairing.frame_length(await reader.readexactly(4))
        return pairing.parse(await reader.readexactly(n))


async def send(writer: asyncio.StreamWriter, msg: pairing.Message) -> None:
    writer.write(pairing.frame(msg))
    await writer.drain()


class PairingService:
    """Serves pairing on `hosts` until closed; `on_code` hears of every new code."""

    def __init__(
        self,
        device_id: str,
        csr_pem: bytes,
        *,
        hosts: list[str],
        port: int,
        on_bundle: OnBundle,
        on_code: Callable[[str], None],
        guard: pairing.Guard | None = None,
        message_timeout_s: float = 30.0,
        bundle_timeout_s: float = 600.0,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        self.device_id = device_id
        self._csr = csr_pem
        self.hosts, self.want_port = hosts, port
        self.port = port
        self.guard = guard or pairing.Guard()
        self._on_bundle = on_bundle
        self._on_code = on_code
        self._message_s = message_timeout_s
        self._bundle_s = bundle_timeout_s
        self._now = monotonic
        self._busy = False
        self.provisioned = False
        self._servers: list[asyncio.Server] = []
        self._quiet = QuietLog(log)
        self.counts: dict[str, int] = {}

    @property
    def code(self) -> str:
        return self.guard.code

    async def start(self) -> None:
        for host in self.hosts:
            try:
                server = await asyncio.start_server(self._connection, host, self.want_port)
            except OSError as exc:
                raise EdgeError(f"cannot serve pairing on {host}:{self.want_port}: {exc}") from exc
            self._servers.append(server)
            self.port = int(server.sockets[0].getsockname()[1])
        self._on_code(self.code)

    async def aclose(self) -> None:
        servers, self._servers = self._servers, []
        for server in servers:
            server.close()
        for server in servers:
            await server.wait_closed()

    def new_code(self) -> None:
        """A fresh code (after a reprovision): the old one is gone."""
        self.guard.used()
        self.provisioned = False
        self._on_code(self.code)

    def _count(self, outcome: str) -> None:
        self.counts[outcome] = self.counts.get(outcome, 0) + 1

    async def _connection(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            refusal = self._refusal()
            if refusal is not None:
                self._count(refusal.reason)
                await send(writer, refusal)
                return
            self._busy = True
            try:
                await self._session(reader, writer)
            finally:
                self._busy = False
        except (ConnectionError, TimeoutError, asyncio.IncompleteReadError, EdgeError) as exc:
            self._quiet.problem("pair", "pairing session ended: %s", exc or type(exc).__name__)
        finally:
            writer.close()
            with contextlib.suppress(ConnectionError, OSError):
                await writer.wait_closed()

    def _refusal(self) -> pairing.Refused | None:
        if self.provisioned:
            return pairing.Refused("provisioned", f"device {self.device_id} is already provisioned")
        if self._busy:
            return pairing.Refused("busy", "another pairing session is in progress; try again")
        wait = self.guard.locked(self._now())
        if wait > 0:
            return pairing.Refused(
                "locked", f"too many wrong codes; try again in {wait:.0f} s", retry_s=wait
            )
        return None

    async def _session(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        session = pairing.DeviceSession(self.device_id, self.guard.code)
        try:
            hello = await read_message(reader, self._message_s)
            if not isinstance(hello, pairing.Hello):
                raise pairing.FrameError(f"expected hello, got {type(hello).__name__}")
            answer = session.hello(hello, self.guard.attempts_left)
            await send(writer, answer)
            if isinstance(answer, pairing.Refused):
                return
            confirm = await read_message(reader, self._message_s)
            if not isinstance(confirm, pairing.Confirm):
                raise pairing.FrameError(f"expected confirm, got {type(confirm).__name__}")
            csr = session.confirm(confirm, self._csr)
        finally:
            if session.started and not session.confirmed:
                self._wrong_attempt()
        if csr is None:
            left = self.guard.attempts_left
            locked = self.guard.locked(self._now())
            detail = (
                f"wrong code; pairing is locked for {locked:.0f} s and a new code is on screen"
                if locked
                else f"wrong code; {left} attempts left"
            )
            await send(writer, pairing.Refused("wrong_code", detail, locked, left))
            return
        log.info("pairing: the code was confirmed; sending this device's CSR")
        self._count("confirmed")
        self.guard.used()  # single use, whatever happens next
        self._on_code(self.code)
        await send(writer, csr)
        box = await read_message(reader, self._bundle_s)
        if not isinstance(box, pairing.BundleBox):
            raise pairing.FrameError(f"expected bundle, got {type(box).__name__}")
        try:
            await self._on_bundle(session.open_bundle(box))
        except BundleRejected as exc:
            log.error("pairing: bundle refused: %s", exc)
            self._count("bundle_rejected")
            await send(writer, pairing.Refused("bundle_rejected", str(exc)))
            return
        self.provisioned = True
        self._count("done")
        await send(writer, pairing.Done())

    def _wrong_attempt(self) -> None:
        self._count("wrong_code")
        if self.guard.failed(self._now()):
            log.warning(
                "pairing: %d wrong codes; locked for %.0f s, new code on screen",
                self.guard.max_attempts,
                self.guard.locked(self._now()),
            )
            self._on_code(self.code)
        else:
            log.warning("pairing: wrong code (%d attempts left)", self.guard.attempts_left)
