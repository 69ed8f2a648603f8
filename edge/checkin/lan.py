"""The LAN check-in endpoint: `POST /checkin` on the store network, advertised over mDNS.

A phone on the store Wi-Fi that scanned the screen's QR code posts
`{"nonce": str, "token": str}`; the token is verified here (tokens.py) and
the daemon's `on_checkin(token, nonce)` spends the nonce and commits the
event, returning the status and JSON body to send. docs/checkin.md lists
every status code.

Everything that arrives is untrusted, so the HTTP/1.1 subset is small and
strict (parsed and encoded in lan_wire.py, pure): one request per connection
(always `Connection: close`), a body only with Content-Length (no chunked
encoding), head and body each bounded in size and in time (a slow client is
dropped: no slowloris), a token bucket per client address, a cap on open
connections (lan_limits.py). Every outcome is counted; a problem is a short
JSON error, never a traceback, and the server keeps going.

The service is advertised as `_omo-checkin._tcp.local.` with TXT `id`
(device_id) and `path`, on the interface the server listens on.
"""

from __future__ import annotations

import asyncio
import contextlib
import ipaddress
import json
import logging
import socket
import time
from collections import Counter
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import replace
from types import TracebackType
from typing import Any

from zeroconf import Error as ZeroconfError
from zeroconf import IPVersion, ServiceInfo
from zeroconf.asyncio import AsyncZeroconf

from edge.checkin.lan_limits import LanLimits, RateLimiter
from edge.checkin.lan_wire import CONTINUE, Reply, accept_head, encode, error_reply, parse_body
from edge.checkin.nonces import Verdict
from edge.checkin.tokens import TokenRejected, VisitorToken, verify_token
from edge.clock import clock_synced as system_clock_synced
from edge.errors import EdgeError
from edge.quiet import QuietLog

__all__ = [
    "CHECKIN_PATH",
    "SERVICE_TYPE",
    "LanCheckin",
    "LanError",
    "LanLimits",
    "OnCheckin",
    "RateLimiter",
    "nonce_refusal",
]

log = logging.getLogger(__name__)

CHECKIN_PATH = "/checkin"
SERVICE_TYPE = "_omo-checkin._tcp.local."

OnCheckin = Callable[[VisitorToken, str], Awaitable[tuple[int, dict[str, Any]]]]
"""The daemon's part: spend the nonce, commit the event, say what to answer."""


class LanError(EdgeError):
    """The endpoint could not start: the address cannot be bound or advertised."""


def nonce_refusal(verdict: Verdict) -> tuple[int, dict[str, Any]]:
    """What `on_checkin` answers for a nonce NonceBook.use refused (403, with the verdict)."""
    return 403, {"error": "nonce_rejected", "reason": verdict}


class LanCheckin:
    """The endpoint and its mDNS advertisement: `async with LanCheckin(...) as lan:`.

    `host` is the address of the interface to serve (and advertise) on; port 0
    picks a free port, readable as `lan.port` once started. `public_keys` maps
    kid to base64 Ed25519 public keys of the platform's token keys.
    """

    def __init__(
        self,
        *,
        host: str,
        device_id: str,
        public_keys: Mapping[str, str],
        on_checkin: OnCheckin,
        port: int = 0,
        limits: LanLimits | None = None,
        advertise: bool = True,
        now_ms: Callable[[], int] = lambda: int(time.time() * 1000),
        clock_synced: Callable[[], bool] = system_clock_synced,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        self.host = host
        self.device_id = device_id
        self.public_keys = public_keys
        self.advertise = advertise
        self.limits = limits or LanLimits()
        self._on_checkin = on_checkin
        self._want_port = port
        self._now_ms = now_ms
        self._clock_synced = clock_synced
        self._monotonic = monotonic
        if advertise:
            try:
                address = ipaddress.IPv4Address(host)
            except ValueError as exc:
                raise LanError(f"cannot advertise on {host!r}: not an IPv4 address") from exc
            if address.is_unspecified or not device_id:
                raise LanError("advertising needs one interface address and a device_id")
        self._limiter = RateLimiter(
            self.limits.rate_per_s, self.limits.burst, self.limits.max_clients_tracked
        )
        self._counts: Counter[str] = Counter()
        self._quiet = QuietLog(log)
        self._server: asyncio.Server | None = None
        self._connections: set[asyncio.Task[Any]] = set()
        self._per_client: Counter[str] = Counter()
        self._zeroconf: AsyncZeroconf | None = None
        self._service: ServiceInfo | None = None
        self._port: int | None = None

    @property
    def port(self) -> int:
        if self._port is None:
            raise RuntimeError("the check-in endpoint is not started")
        return self._port

    def counts(self) -> dict[str, int]:
        """How many requests ended each way (e.g. "checkin.200", "token.expired", "too_large")."""
        return dict(self._counts)

    # lifecycle -------------------------------------------------------------------
    async def start(self) -> None:
        if self._server is not None:
            raise RuntimeError("the check-in endpoint is already started")
        try:
            self._server = await asyncio.start_server(
                self._connection,
                self.host,
                self._want_port,
                limit=self.limits.max_head_bytes,
            )
            self._port = int(self._server.sockets[0].getsockname()[1])
            if self.advertise:
                await self._register()
        except BaseException as exc:
            await self.aclose()
            if isinstance(exc, OSError):
                raise LanError(f"cannot serve check-ins on {self.host}: {exc}") from exc
            raise
        log.info("LAN check-in on http://%s:%d%s", self.host, self._port, CHECKIN_PATH)

    async def aclose(self) -> None:
        """Withdraw the advertisement, stop accepting, end open connections (idempotent)."""
        try:
            await self._unregister()
        finally:
            server, self._server = self._server, None
            if server is not None:
                server.close()
            while self._connections:  # including any accepted while closing
                for task in self._connections:
                    task.cancel()
                await asyncio.gather(*self._connections, return_exceptions=True)
            if server is not None:
                await server.wait_closed()

    async def __aenter__(self) -> LanCheckin:
        await self.start()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.aclose()

    async def _register(self) -> None:
        name = f"{self.device_id}.{SERVICE_TYPE}"
        try:
            info = ServiceInfo(
                SERVICE_TYPE,
                name,
                addresses=[socket.inet_aton(self.host)],
                port=self.port,
                properties={"id": self.device_id, "path": CHECKIN_PATH},
                server=f"{self.device_id}.local.",
            )
            self._zeroconf = AsyncZeroconf(interfaces=[self.host], ip_version=IPVersion.V4Only)
            # Another screen answering to this name (a copied config, or a test beside this
            # one) gets "name (2)": phones find the endpoint by its `id`, not its name.
            announced = await self._zeroconf.async_register_service(info, allow_name_change=True)
            self._service = info
            await announced
        except ZeroconfError as exc:
            await self._unregister()
            raise LanError(f"cannot advertise {name}: {exc!r}") from exc

    async def _unregister(self) -> None:
        zc, service = self._zeroconf, self._service
        self._zeroconf = self._service = None
        if zc is None:
            return
        try:
            if service is not None:
                await (await zc.async_unregister_service(service))
        finally:
            await zc.async_close()

    # one connection --------------------------------------------------------------
    async def _connection(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        assert task is not None
        peer = writer.get_extra_info("peername")
        client = str(peer[0]) if isinstance(peer, tuple) and peer else "?"
        self._connections.add(task)
        self._per_client[client] += 1
        try:
            if (
                len(self._connections) > self.limits.max_connections
                or self._per_client[client] > self.limits.max_per_client
            ):
                self._counts["busy"] += 1
                return
            allowed = self._limiter.allow(client, self._monotonic())
            try:
                reply = await self._exchange(reader, writer, allowed)
            except (ConnectionError, TimeoutError):
                raise
            except Exception as exc:  # never let one request take the endpoint down
                self._quiet.problem("lan:internal", "check-in request failed: %r", exc)
                reply = Reply(500, {"error": "internal"}, "internal_error", linger=True)
            if reply is not None:
                self._counts[reply.outcome] += 1
                await self._send(reader, writer, reply)
        except (ConnectionError, TimeoutError):
            self._counts["connection_lost"] += 1
        finally:
            self._connections.discard(task)
            self._per_client[client] -= 1
            if self._per_client[client] <= 0:
                del self._per_client[client]
            await self._close(writer)

    async def _close(self, writer: asyncio.StreamWriter) -> None:
        """Close after the reply is flushed; a client that will not take it is cut off."""
        writer.close()
        flushed = False
        try:
            async with asyncio.timeout(self.limits.linger_s):
                await writer.wait_closed()
            flushed = True
        except (TimeoutError, ConnectionError):
            pass
        finally:
            if not flushed:
                writer.transport.abort()

    async def _exchange(
        self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter, allowed: bool
    ) -> Reply | None:
        """Read one request and decide the reply; None: nothing to answer (client gone)."""
        limits = self.limits
        try:
            async with asyncio.timeout(limits.head_timeout_s):
                raw = await reader.readuntil(b"\r\n\r\n")
        except TimeoutError:
            return Reply(408, {"error": "timeout", "detail": "request head too slow"}, "timeout")
        except asyncio.LimitOverrunError:
            return error_reply(
                431, "head_too_large", f"the head may be {limits.max_head_bytes} bytes"
            )
        except asyncio.IncompleteReadError:
            self._counts["incomplete"] += 1
            return None
        if not allowed:
            reply = error_reply(429, "rate_limited", "too many requests; try again in a second")
            return replace(reply, headers=(("Retry-After", "1"),))
        accepted = accept_head(raw, CHECKIN_PATH, limits.max_body_bytes)
        if isinstance(accepted, Reply):
            return accepted
        length, send_continue = accepted
        if send_continue:
            writer.write(CONTINUE)
        try:
            async with asyncio.timeout(limits.body_timeout_s):
                body = await reader.readexactly(length)
        except TimeoutError:
            return Reply(408, {"error": "timeout", "detail": "request body too slow"}, "timeout")
        except asyncio.IncompleteReadError:
            self._counts["incomplete"] += 1
            return None
        try:
            nonce, token_text = parse_body(body)
        except (ValueError, RecursionError) as exc:  # JSON and UTF-8 errors are ValueErrors
            return Reply(400, {"error": "bad_request", "detail": str(exc)}, "bad_request")
        return await self._checkin(nonce, token_text)

    async def _checkin(self, nonce: str, token_text: str) -> Reply:
        try:
            token = verify_token(
                token_text,
                public_keys=self.public_keys,
                now_ms=self._now_ms(),
                clock_synced=self._clock_synced(),
            )
        except TokenRejected as exc:
            body = {"error": "token_rejected", "reason": exc.reason}
            return Reply(401, body, f"token.{exc.reason}")
        try:
            async with asyncio.timeout(self.limits.callback_timeout_s):
                status, body = await self._on_checkin(token, nonce)
            if not (isinstance(status, int) and 200 <= status <= 599 and isinstance(body, dict)):
                raise TypeError(f"on_checkin returned {status!r}, {type(body).__name__}")
            json.dumps(body)  # must be sendable
        except TimeoutError:
            self._quiet.problem("lan:callback", "check-in callback timed out")
            return Reply(503, {"error": "unavailable", "detail": "try again"}, "callback_timeout")
        except Exception as exc:
            self._quiet.problem("lan:callback", "check-in callback failed: %r", exc)
            return Reply(500, {"error": "internal"}, "callback_error")
        self._quiet.resolved("lan:callback", "check-in callback works again")
        return Reply(status, body, f"checkin.{status}")

    async def _send(
        self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter, reply: Reply
    ) -> None:
        """Write the reply; if the request was not read to its end, linger briefly first."""
        writer.write(encode(reply))
        async with asyncio.timeout(self.limits.head_timeout_s):
            await writer.drain()
        if reply.linger and writer.can_write_eof():
            # Closing with unread input would reset the connection, and the client
            # might lose the answer: say we are done, then discard what still comes.
            writer.write_eof()
            with contextlib.suppress(TimeoutError, ConnectionError):
                async with asyncio.timeout(self.limits.linger_s):
                    budget = 4 * (self.limits.max_head_bytes + self.limits.max_body_bytes)
                    while budget > 0:
                        chunk = await reader.read(budget)
                        if not chunk:
                            break
                        budget -= len(chunk)


# tests/fuzz_targets.py reaches the wire functions by their names from before the split
_encode = encode
_parse_body = parse_body
