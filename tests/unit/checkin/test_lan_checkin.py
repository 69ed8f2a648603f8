"""The LAN check-in endpoint over real sockets on 127.0.0.1, and its mDNS advertisement."""

from __future__ import annotations

import asyncio
import base64
import http.client
import json
import secrets
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager, suppress
from dataclasses import dataclass, field
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from nacl.signing import SigningKey
from zeroconf import IPVersion, ServiceStateChange, Zeroconf
from zeroconf.asyncio import AsyncServiceBrowser, AsyncServiceInfo, AsyncZeroconf

from edge.checkin.lan import (
    SERVICE_TYPE,
    LanCheckin,
    LanError,
    LanLimits,
    RateLimiter,
    nonce_refusal,
)
from edge.checkin.nonces import NonceBook
from edge.checkin.tokens import TIME_FLOOR_MS, VisitorToken, sign_token
from tests.support.examples import examples

NOW_MS = TIME_FLOOR_MS + 86_400_000
HOUR = 3_600_000
KEY = SigningKey.generate()
SEED = base64.b64encode(bytes(KEY)).decode()
PUBLIC = {"t1": base64.b64encode(bytes(KEY.verify_key)).decode()}
FAST = LanLimits(
    head_timeout_s=0.5,
    body_timeout_s=0.5,
    callback_timeout_s=0.5,
    linger_s=0.3,
    rate_per_s=1000,
    burst=1000,
)


def token(seed: str = SEED, **fields: Any) -> str:
    args: dict[str, Any] = {
        "kid": "t1",
        "visitor": "member:42",
        "consent": ["personalize", "analytics"],
        "iat_ms": NOW_MS - HOUR,
        "exp_ms": NOW_MS + HOUR,
    }
    args.update(fields)
    return sign_token(signing_key_b64=seed, **args)


@dataclass
class Daemonish:
    """What the daemon's on_checkin does: spend the nonce, then 'commit'."""

    book: NonceBook = field(default_factory=NonceBook)
    seen: list[tuple[VisitorToken, str]] = field(default_factory=list)

    async def on_checkin(self, visitor: VisitorToken, nonce: str) -> tuple[int, dict[str, Any]]:
        verdict = self.book.use(nonce, time.monotonic())
        if verdict != "ok":
            return nonce_refusal(verdict)
        self.seen.append((visitor, nonce))
        return 200, {"ok": True}


@asynccontextmanager
async def serve(
    on_checkin: Callable[[VisitorToken, str], Awaitable[tuple[int, dict[str, Any]]]],
    **kwargs: Any,
) -> AsyncIterator[LanCheckin]:
    args: dict[str, Any] = {
        "host": "127.0.0.1",
        "device_id": "screen-1",
        "public_keys": PUBLIC,
        "advertise": False,
        "limits": FAST,
        "now_ms": lambda: NOW_MS,
        "clock_synced": lambda: True,
    }
    args.update(kwargs)
    async with LanCheckin(on_checkin=on_checkin, **args) as lan:
        yield lan


@dataclass
class Answer:
    status: int
    headers: dict[str, str]
    body: dict[str, Any]


def parse_answer(raw: bytes) -> Answer:
    head, _, body = raw.partition(b"\r\n\r\n")
    lines = head.decode("ascii").split("\r\n")
    version, status, _phrase = lines[0].split(" ", 2)
    assert version == "HTTP/1.1"
    headers = {}
    for line in lines[1:]:
        name, _, value = line.partition(":")
        headers[name.lower()] = value.strip()
    assert headers["connection"] == "close"
    assert int(headers["content-length"]) == len(body)
    assert b"Traceback" not in body
    return Answer(int(status), headers, json.loads(body))


async def exchange(port: int, raw: bytes, *, eof: bool = False, timeout: float = 5.0) -> bytes:
    """Send `raw`, then read until the server closes the connection."""
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    try:
        writer.write(raw)
        await writer.drain()
        if eof:
            writer.write_eof()
        async with asyncio.timeout(timeout):
            return await reader.read()  # to EOF: every answer closes the connection
    finally:
        writer.close()
        with suppress(ConnectionError):
            await writer.wait_closed()


def request(
    body: bytes,
    *,
    method: str = "POST",
    path: str = "/checkin",
    content_type: str = "application/json",
    extra: str = "",
    length: int | None = None,
) -> bytes:
    head = (
        f"{method} {path} HTTP/1.1\r\nHost: screen-1.local\r\n"
        f"Content-Type: {content_type}\r\n"
        f"Content-Length: {len(body) if length is None else length}\r\n{extra}\r\n"
    )
    return head.encode() + body


def checkin_body(nonce: str, text: str) -> bytes:
    return json.dumps({"nonce": nonce, "token": text}).encode()


async def post(port: int, body: bytes, **kwargs: Any) -> Answer:
    return parse_answer(await exchange(port, request(body, **kwargs)))


def test_a_good_check_in_reaches_the_daemon_once() -> None:
    async def main() -> None:
        daemon = Daemonish()
        async with serve(daemon.on_checkin) as lan:
            nonce = daemon.book.current(time.monotonic())
            answer = await post(lan.port, checkin_body(nonce, token()))
            assert (answer.status, answer.body) == (200, {"ok": True})
            [(visitor, seen_nonce)] = daemon.seen
            assert (visitor.visitor, visitor.consent, seen_nonce) == (
                "member:42",
                ("personalize", "analytics"),
                nonce,
            )
            assert visitor.clock_checked
            again = await post(lan.port, checkin_body(nonce, token()))
            assert (again.status, again.body) == (
                403,
                {"error": "nonce_rejected", "reason": "reused"},
            )
            unknown = await post(lan.port, checkin_body("A" * 16, token()))
            assert unknown.body["reason"] == "unknown"
            assert lan.counts() == {"checkin.200": 1, "checkin.403": 2}
            assert daemon.book.counts() == {"ok": 1, "unknown": 1, "expired": 0, "reused": 1}

    asyncio.run(main())


def test_a_standard_http_client_checks_in() -> None:
    def client(port: int, body: bytes) -> tuple[int, str, bytes]:
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
        try:
            conn.request("POST", "/checkin?src=qr", body, {"Content-Type": "application/json"})
            resp = conn.getresponse()
            return resp.status, resp.getheader("Content-Type", ""), resp.read()
        finally:
            conn.close()

    async def main() -> None:
        daemon = Daemonish()
        async with serve(daemon.on_checkin, clock_synced=lambda: False) as lan:
            nonce = daemon.book.current(time.monotonic())
            status, ctype, body = await asyncio.to_thread(
                client, lan.port, checkin_body(nonce, token())
            )
            assert (status, ctype, json.loads(body)) == (200, "application/json", {"ok": True})
            assert daemon.seen[0][0].clock_checked is False

    asyncio.run(main())


def test_expect_100_continue_is_honoured() -> None:
    async def main() -> None:
        daemon = Daemonish()
        async with serve(daemon.on_checkin) as lan:
            body = checkin_body(daemon.book.current(time.monotonic()), token())
            reader, writer = await asyncio.open_connection("127.0.0.1", lan.port)
            writer.write(request(b"", length=len(body), extra="Expect: 100-continue\r\n"))
            async with asyncio.timeout(2):
                assert await reader.readuntil(b"\r\n\r\n") == b"HTTP/1.1 100 Continue\r\n\r\n"
                writer.write(body)
                answer = parse_answer(await reader.read())
            writer.close()
            await writer.wait_closed()
            assert answer.status == 200

    asyncio.run(main())


@pytest.mark.parametrize(
    ("make", "reason"),
    [
        (
            lambda: token(seed=base64.b64encode(bytes(SigningKey.generate())).decode()),
            "bad_signature",
        ),
        (lambda: token(kid="t9"), "unknown_kid"),
        (lambda: token(iat_ms=NOW_MS - 2 * HOUR, exp_ms=NOW_MS - 1), "expired"),
        (lambda: token(iat_ms=NOW_MS + HOUR, exp_ms=NOW_MS + 2 * HOUR), "not_yet_valid"),
        (lambda: "not-a-token", "malformed"),
    ],
)
def test_token_problems_are_401_with_the_reason(make: Callable[[], str], reason: str) -> None:
    async def main() -> None:
        daemon = Daemonish()
        async with serve(daemon.on_checkin) as lan:
            nonce = daemon.book.current(time.monotonic())
            answer = await post(lan.port, checkin_body(nonce, make()))
            assert (answer.status, answer.body) == (
                401,
                {"error": "token_rejected", "reason": reason},
            )
            assert daemon.seen == [] and daemon.book.counts()["ok"] == 0
            assert lan.counts() == {f"token.{reason}": 1}

    asyncio.run(main())


def test_http_problems_get_plain_json_errors() -> None:
    async def main() -> None:
        daemon = Daemonish()
        async with serve(daemon.on_checkin) as lan:
            good = checkin_body("n" * 16, token())
            cases: list[tuple[bytes, int, str]] = [
                (request(b"{nope"), 400, "bad_request"),
                (request(b"[1,2]"), 400, "bad_request"),
                (request(b'{"nonce": "short", "token": "x"}'), 400, "bad_request"),
                (request(b'{"nonce": 12345678, "token": "x"}'), 400, "bad_request"),
                (
                    request(b'{"nonce":"nnnnnnnn","nonce":"mmmmmmmm","token":"x"}'),
                    400,
                    "bad_request",
                ),
                (request(b"\xff\xfe\x00"), 400, "bad_request"),
                (request(b"x" * 9000), 413, "too_large"),
                (request(good, length=10**12), 413, "too_large"),
                (request(good, path="/"), 404, "not_found"),
                (request(good, path="/checkin/../admin"), 404, "not_found"),
                (request(good, method="GET"), 405, "method_not_allowed"),
                (request(good, method="PUT"), 405, "method_not_allowed"),
                (request(good, content_type="text/plain"), 415, "unsupported_media_type"),
                (
                    request(good, content_type="application/json; charset=latin-1"),
                    415,
                    "unsupported_media_type",
                ),
                (request(good, length=-1), 400, "bad_request"),
                (request(good, extra="Content-Length: 5\r\n"), 400, "bad_request"),
                (request(good, extra="Expect: magic\r\n"), 417, "expectation_failed"),
                (
                    b"POST /checkin HTTP/1.1\r\nTransfer-Encoding: chunked\r\n"
                    b"Content-Type: application/json\r\n\r\n5\r\nhello\r\n0\r\n\r\n",
                    411,
                    "length_required",
                ),
                (b"hello\r\n\r\n", 400, "bad_request"),
                (b"POST /checkin HTTP/2.0\r\n\r\n", 400, "bad_request"),
                (b"POST /checkin HTTP/1.1\r\n folded: x\r\n\r\n", 400, "bad_request"),
                (b"POST /checkin HTTP/1.1\r\nBad Name: x\r\n\r\n", 400, "bad_request"),
                (b"POST /checkin HTTP/1.1\nHost: x\r\n\r\n", 400, "bad_request"),
                (b"POST /checkin HTTP/1.1\r\nX: \x01\r\n\r\n", 400, "bad_request"),
                (b"POST /\xe2\x98\x83 HTTP/1.1\r\n\r\n", 400, "bad_request"),
                (
                    b"POST /checkin HTTP/1.1\r\nX: " + b"y" * 9000 + b"\r\n\r\n",
                    431,
                    "head_too_large",
                ),
            ]
            for raw, status, error in cases:
                answer = parse_answer(await exchange(lan.port, raw))
                assert (answer.status, answer.body["error"]) == (status, error), raw[:80]
            assert (
                parse_answer(await exchange(lan.port, request(good, method="GET"))).headers["allow"]
                == "POST"
            )
            assert daemon.seen == []
            counts = lan.counts()
            assert counts["bad_request"] == 15 and counts["too_large"] == 2
            assert counts["method_not_allowed"] == 3 and counts["not_found"] == 2

    asyncio.run(main())


def test_a_slow_client_is_cut_off_within_the_timeout() -> None:
    """Slowloris: a client that keeps sending, but too slowly, is closed at the deadline."""

    async def main() -> None:
        async with serve(Daemonish().on_checkin) as lan:
            for partial, drip in (
                (b"POST /checkin HTTP/1.1\r\nHost: x\r\n", b"X-Drip: 1\r\n"),
                (request(b"", length=100) + b'{"nonce":', b" "),
            ):
                reader, writer = await asyncio.open_connection("127.0.0.1", lan.port)
                started = time.monotonic()
                writer.write(partial)

                async def dripping(
                    writer: asyncio.StreamWriter = writer, drip: bytes = drip
                ) -> None:
                    while not writer.is_closing():
                        await asyncio.sleep(0.05)
                        writer.write(drip)

                task = asyncio.create_task(dripping())
                try:
                    async with asyncio.timeout(3):
                        while await reader.read(1024):
                            pass
                except ConnectionResetError:
                    pass  # also fine: the server dropped a client that would not stop talking
                finally:
                    task.cancel()
                    await asyncio.gather(task, return_exceptions=True)
                elapsed = time.monotonic() - started
                writer.close()
                await asyncio.gather(writer.wait_closed(), return_exceptions=True)
                assert 0.4 <= elapsed < 0.5 + 0.3 + 1.0
            assert lan.counts()["timeout"] == 2

    asyncio.run(main())


def test_a_client_that_hangs_up_early_is_counted_and_nothing_breaks() -> None:
    async def main() -> None:
        daemon = Daemonish()
        async with serve(daemon.on_checkin) as lan:
            assert await exchange(lan.port, b"POST /checkin HTT", eof=True) == b""
            assert await exchange(lan.port, request(b"", length=50) + b"{", eof=True) == b""
            assert lan.counts() == {"incomplete": 2}
            nonce = daemon.book.current(time.monotonic())
            assert (await post(lan.port, checkin_body(nonce, token()))).status == 200

    asyncio.run(main())


def test_the_rate_limit_per_client_answers_429() -> None:
    clock = [100.0]

    async def main() -> None:
        limits = LanLimits(head_timeout_s=0.5, body_timeout_s=0.5, linger_s=0.3)
        async with serve(Daemonish().on_checkin, limits=limits, monotonic=lambda: clock[0]) as lan:
            statuses = [(await post(lan.port, b"{}")).status for _ in range(8)]
            assert statuses == [400] * 5 + [429] * 3
            limited = await post(lan.port, b"{}")
            assert limited.headers["retry-after"] == "1"
            clock[0] += 0.2  # one more request's worth
            assert [(await post(lan.port, b"{}")).status for _ in range(2)] == [400, 429]
            assert lan.counts()["rate_limited"] == 5

    asyncio.run(main())


def test_rate_limiter_memory_is_bounded() -> None:
    limiter = RateLimiter(5, 5, max_clients=100)
    for n in range(10_000):
        limiter.allow(f"10.0.{n // 256}.{n % 256}", n * 0.001)
    assert len(limiter) == 100
    assert [limiter.allow("a", 0.0) for _ in range(6)] == [True] * 5 + [False]
    assert limiter.allow("a", 0.2)


def test_a_failing_or_slow_callback_is_a_json_error_and_the_server_lives_on() -> None:
    async def main() -> None:
        calls: list[str] = []

        async def flaky(visitor: VisitorToken, nonce: str) -> tuple[int, dict[str, Any]]:
            calls.append(nonce)
            if nonce.startswith("boom"):
                raise RuntimeError("disk on fire")
            if nonce.startswith("slow"):
                await asyncio.sleep(10)
            if nonce.startswith("weird"):
                return 999, {}
            return 200, {"ok": True}

        async with serve(flaky) as lan:
            boom = await post(lan.port, checkin_body("boom" * 4, token()))
            assert (boom.status, boom.body) == (500, {"error": "internal"})
            started = time.monotonic()
            slow = await post(lan.port, checkin_body("slow" * 4, token()))
            assert slow.status == 503 and time.monotonic() - started < 2
            assert (await post(lan.port, checkin_body("weird" * 4, token()))).status == 500
            assert (await post(lan.port, checkin_body("fine" * 4, token()))).status == 200
            assert lan.counts() == {
                "callback_error": 2,
                "callback_timeout": 1,
                "checkin.200": 1,
            }

    asyncio.run(main())


def test_connections_beyond_the_cap_are_closed_at_once() -> None:
    async def main() -> None:
        limits = LanLimits(head_timeout_s=5, max_connections=2)
        async with serve(Daemonish().on_checkin, limits=limits) as lan:
            idle = [await asyncio.open_connection("127.0.0.1", lan.port) for _ in range(2)]
            try:
                await asyncio.sleep(0.05)
                assert await exchange(lan.port, b"", timeout=1) == b""  # closed, unread
                assert lan.counts() == {"busy": 1}
            finally:
                for _, writer in idle:
                    writer.close()
                    await writer.wait_closed()
        per_client = LanLimits(head_timeout_s=5, max_per_client=3)
        async with serve(Daemonish().on_checkin, limits=per_client) as lan:
            idle = [await asyncio.open_connection("127.0.0.1", lan.port) for _ in range(3)]
            try:
                await asyncio.sleep(0.05)
                assert await exchange(lan.port, b"", timeout=1) == b""
                assert lan.counts() == {"busy": 1}
            finally:
                for _, writer in idle:
                    writer.close()
                    await writer.wait_closed()

    asyncio.run(main())


def test_closing_ends_open_connections() -> None:
    async def main() -> None:
        limits = LanLimits(head_timeout_s=30, body_timeout_s=30)
        lan = LanCheckin(
            host="127.0.0.1",
            device_id="screen-1",
            public_keys=PUBLIC,
            on_checkin=Daemonish().on_checkin,
            advertise=False,
            limits=limits,
        )
        async with lan:
            reader, writer = await asyncio.open_connection("127.0.0.1", lan.port)
            writer.write(b"POST /checkin HTTP/1.1\r\n")
            await writer.drain()
            await asyncio.sleep(0.05)
        async with asyncio.timeout(2):
            assert await reader.read() == b""
        writer.close()
        await writer.wait_closed()
        await lan.aclose()  # idempotent
        with pytest.raises(ConnectionError):
            await asyncio.open_connection("127.0.0.1", lan.port)

    asyncio.run(main())


def test_cannot_advertise_without_an_interface_address() -> None:
    with pytest.raises(LanError):
        LanCheckin(host="0.0.0.0", device_id="d", public_keys={}, on_checkin=Daemonish().on_checkin)


def test_a_busy_port_is_a_lan_error() -> None:
    async def main() -> None:
        async with serve(Daemonish().on_checkin) as first:
            with pytest.raises(LanError):
                async with serve(Daemonish().on_checkin, port=first.port):
                    pass

    asyncio.run(main())


@settings(
    max_examples=examples(40),
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
)
@given(
    st.one_of(
        st.binary(max_size=600),
        st.builds(
            lambda head, body: head + b"\r\n\r\n" + body,
            st.binary(max_size=200),
            st.binary(max_size=200),
        ),
        st.builds(request, st.binary(max_size=300)),
    )
)
def test_property_any_bytes_get_a_json_answer_or_a_close(raw: bytes) -> None:
    async def main() -> None:
        daemon = Daemonish()
        async with serve(daemon.on_checkin) as lan:
            answer = await exchange(lan.port, raw, eof=True)
            if answer:
                parsed = parse_answer(answer)
                assert parsed.status in {400, 401, 404, 405, 411, 413, 415, 417, 431}
                assert "error" in parsed.body
            assert daemon.seen == []
            assert "internal_error" not in lan.counts()

    asyncio.run(main())


def test_advertised_over_mdns_with_the_device_id_and_port() -> None:
    device_id = f"screen-{secrets.token_hex(4)}"  # devices of other tests announce on 127.0.0.1

    async def main() -> None:
        async with serve(Daemonish().on_checkin, advertise=True, device_id=device_id) as lan:
            browser_zc = AsyncZeroconf(interfaces=["127.0.0.1"], ip_version=IPVersion.V4Only)
            found: asyncio.Queue[str] = asyncio.Queue()

            def on_change(
                zeroconf: Zeroconf,
                service_type: str,
                name: str,
                state_change: ServiceStateChange,
            ) -> None:
                if state_change is ServiceStateChange.Added and name.startswith(device_id):
                    found.put_nowait(name)

            browser = AsyncServiceBrowser(browser_zc.zeroconf, [SERVICE_TYPE], handlers=[on_change])
            try:
                async with asyncio.timeout(5):
                    name = await found.get()
                assert name == f"{device_id}.{SERVICE_TYPE}"
                info = AsyncServiceInfo(SERVICE_TYPE, name)
                assert await info.async_request(browser_zc.zeroconf, 3000)
                assert info.port == lan.port
                assert info.properties == {b"id": device_id.encode(), b"path": b"/checkin"}
                assert info.parsed_addresses() == ["127.0.0.1"]
            finally:
                await browser.async_cancel()
                await browser_zc.async_close()

    asyncio.run(main())
