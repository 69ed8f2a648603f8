"""The broker flags every `omo-ops` command that talks to a broker shares, and its connection.

Tools connect with an identity of their own, never a device's (docs/tls.md: the
central service's certificate on its listener, or an ops certificate). Every way
a connection can fail is an OpsError in plain words (exit 2, never a traceback):
an unreachable broker, a refused login, TLS files that cannot be read, a broker
certificate the CA does not vouch for. Incoming messages land in a queue that the
command's own thread reads, so a command is plain sequential code.
"""

from __future__ import annotations

import argparse
import os
import queue
import re
import socket
import ssl
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import Any
from urllib.parse import urlsplit

import paho.mqtt.client as mqtt
from paho.mqtt.reasoncodes import ReasonCode

from edge.link.client import new_client
from edge.link.tls import TlsFiles, client_context
from edge.ops.errors import OpsError

CONNECT_TIMEOUT_S = 10.0
PREFIX = "omo/v1"


@dataclass(frozen=True, slots=True)
class Broker:
    """Where to connect and as whom: `tls` None is plain MQTT."""

    host: str
    port: int
    tls: TlsFiles | None
    prefix: str = PREFIX

    @property
    def where(self) -> str:
        return f"{'mqtts' if self.tls else 'mqtt'}://{self.host}:{self.port}"


def add_broker_flags(
    parser: argparse.ArgumentParser, *, required: bool = True
) -> argparse.ArgumentParser:
    """`--broker`, the tool's own TLS identity and the topic prefix."""
    group = parser.add_argument_group("broker (the tool's own identity, never a device's)")
    group.add_argument(
        "--broker",
        required=required,
        metavar="mqtt[s]://HOST:PORT",
        help="the broker (mqtts: TLS; default ports 1883 and 8883)",
    )
    group.add_argument("--tls-ca", type=Path, metavar="FILE", help="CA of the broker's certificate")
    group.add_argument("--tls-cert", type=Path, metavar="FILE", help="this tool's certificate")
    group.add_argument("--tls-key", type=Path, metavar="FILE", help="its private key")
    group.add_argument("--prefix", default=PREFIX, help=f"topic prefix (default {PREFIX})")
    return parser


def _readable(flag: str, path: Path) -> str:
    try:
        with path.open("rb"):
            pass
    except OSError as exc:
        raise OpsError(f"{flag} {path}: cannot read it ({exc.strerror or exc})") from exc
    return str(path)


def broker_from_args(args: argparse.Namespace) -> Broker:
    """The broker flags, checked: a URL that makes sense, TLS files that exist and go together."""
    url = str(args.broker)
    parts = urlsplit(url)
    if parts.scheme not in ("mqtt", "mqtts") or not parts.hostname or parts.path not in ("", "/"):
        raise OpsError(f"--broker {url!r}: give mqtt://HOST:PORT or mqtts://HOST:PORT")
    try:
        port = parts.port or (8883 if parts.scheme == "mqtts" else 1883)
    except ValueError as exc:
        raise OpsError(f"--broker {url!r}: the port is not a number 1-65535") from exc
    ca, cert, key = args.tls_ca, args.tls_cert, args.tls_key
    if (cert is None) != (key is None):
        raise OpsError("give --tls-cert and --tls-key together (the tool's certificate and key)")
    tls = None
    if parts.scheme == "mqtts":
        if ca is None:
            raise OpsError("--broker mqtts://... needs --tls-ca FILE (the CA of the broker)")
        tls = TlsFiles(
            _readable("--tls-ca", ca),
            _readable("--tls-cert", cert) if cert else "",
            _readable("--tls-key", key) if key else "",
        )
    elif ca or cert:
        raise OpsError(f"--broker {url!r} is plain MQTT: use mqtts:// with the --tls-* files")
    prefix = str(args.prefix).strip("/")
    if not prefix or any(c in prefix for c in "+#"):
        raise OpsError(f"--prefix {args.prefix!r}: give a topic prefix such as {PREFIX}")
    return Broker(parts.hostname, port, tls, prefix)


@dataclass(frozen=True, slots=True)
class Message:
    topic: str
    payload: bytes
    retain: bool


class Connection:
    """A connected MQTT 5 client (clean session); messages on `subscriptions` are queued.

    `with Connection(broker, [topics]) as conn:` connects, subscribes (again after a
    reconnect) and returns once the broker has confirmed the subscriptions.
    """

    def __init__(
        self,
        broker: Broker,
        subscriptions: list[str],
        name: str = "omo-ops",
        *,
        reconnect_max_s: int = 10,
    ) -> None:
        """`reconnect_max_s`: the longest wait between attempts after losing the broker."""
        self.broker = broker
        self.subscriptions = subscriptions
        self._inbox: queue.Queue[Message] = queue.Queue()
        self._ready = threading.Event()
        self._failure: str | None = None
        self._acks: dict[int, ReasonCode] = {}
        self._acks_lock = threading.Lock()
        self._pending: list[mqtt.MQTTMessageInfo] = []
        client_id = f"{name}-{socket.gethostname()[:20]}-{os.getpid()}-{time.time_ns() % 10**6}"
        context = _tls_context(broker.tls) if broker.tls else None
        client = new_client(client_id, tls=context)
        client.connect_timeout = CONNECT_TIMEOUT_S
        client.reconnect_delay_set(1, reconnect_max_s)
        client.on_connect = self._on_connect
        client.on_subscribe = self._on_subscribe
        client.on_disconnect = self._on_disconnect
        client.on_message = self._on_message
        client.on_publish = self._on_publish
        self._client = client

    # -- lifecycle -----------------------------------------------------------------------
    def __enter__(self) -> Connection:
        where = self.broker.where
        try:
            self._client.connect(self.broker.host, self.broker.port, keepalive=30)
        except ssl.SSLCertVerificationError as exc:
            raise OpsError(
                f"broker {where}: its certificate is not trusted: {exc.verify_message} "
                "(is --tls-ca the CA that issued it, and HOST the name in it?)"
            ) from exc
        except ssl.SSLError as exc:
            raise OpsError(f"broker {where}: TLS failed: {_ssl_words(exc)}") from exc
        except socket.gaierror as exc:
            raise OpsError(f"broker {where} unreachable: no such host ({exc.strerror})") from exc
        except TimeoutError as exc:
            raise OpsError(
                f"broker {where} unreachable: no answer in {CONNECT_TIMEOUT_S:.0f} s"
            ) from exc
        except OSError as exc:
            raise OpsError(
                f"broker {where} unreachable: {exc.strerror or exc} (is a broker listening there?)"
            ) from exc
        self._client.loop_start()
        if not self._ready.wait(CONNECT_TIMEOUT_S) or self._failure:
            self._close()
            raise OpsError(self._failure or f"broker {where} did not accept the login in time")
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if exc_type is None:
            self.flush()
        self._close()

    def _close(self) -> None:
        self._client.disconnect()
        self._client.loop_stop()

    # -- paho's thread -------------------------------------------------------------------
    def _on_connect(
        self, client: mqtt.Client, _u: Any, _f: Any, reason: ReasonCode, _p: Any
    ) -> None:
        if reason.is_failure:
            self._failure = (
                f"broker {self.broker.where} refused the login: {reason} "
                "(is this tool's certificate or user allowed on this listener?)"
            )
            self._ready.set()
            client.disconnect()
            return
        if self.subscriptions:
            client.subscribe([(topic, 1) for topic in self.subscriptions])
        else:
            self._ready.set()

    def _on_subscribe(
        self, _c: mqtt.Client, _u: Any, _mid: int, reasons: list[ReasonCode], _p: Any
    ) -> None:
        refused = [
            str(t) for t, r in zip(self.subscriptions, reasons, strict=False) if r.is_failure
        ]
        if refused and not self._ready.is_set():
            self._failure = f"broker {self.broker.where} refused the subscriptions {refused}"
        self._ready.set()

    def _on_disconnect(
        self, _c: mqtt.Client, _u: Any, _f: Any, reason: ReasonCode, _p: Any
    ) -> None:
        if not self._ready.is_set():
            self._failure = (
                f"broker {self.broker.where} closed the connection before the login was "
                f"accepted ({reason}); with TLS, does it want a client certificate "
                "(--tls-cert, --tls-key) this listener trusts?"
            )
            self._ready.set()

    def _on_message(self, _c: mqtt.Client, _u: Any, msg: mqtt.MQTTMessage) -> None:
        self._inbox.put(Message(msg.topic, bytes(msg.payload), bool(msg.retain)))

    def _on_publish(self, _c: mqtt.Client, _u: Any, mid: int, reason: ReasonCode, _p: Any) -> None:
        with self._acks_lock:
            self._acks[mid] = reason

    # -- the command's thread ------------------------------------------------------------
    def get(self, timeout_s: float) -> Message | None:
        """The next message, or None after `timeout_s` without one."""
        try:
            return self._inbox.get(timeout=max(0.0, timeout_s))
        except queue.Empty:
            return None

    def settle(self, quiet_s: float = 0.4, max_s: float = 5.0) -> list[Message]:
        """The messages that come until none has for `quiet_s`: the retained ones, which the
        broker sends at once on subscribing (MQTT has no "that was all" marker)."""
        got: list[Message] = []
        deadline = time.monotonic() + max_s
        while time.monotonic() < deadline:
            message = self.get(min(quiet_s, deadline - time.monotonic()))
            if message is None:
                break
            got.append(message)
        return got

    def send(self, topic: str, payload: bytes, *, retain: bool = False) -> None:
        """Publish (QoS 1) without waiting; `flush` waits for everything sent."""
        info = self._client.publish(topic, payload, qos=1, retain=retain)
        self._pending = [i for i in self._pending if not i.is_published()]
        self._pending.append(info)

    def publish(
        self, topic: str, payload: bytes, *, retain: bool = False, wait_s: float = 10.0
    ) -> None:
        """Publish (QoS 1) and wait until the broker has it; OpsError if it refuses."""
        info = self._client.publish(topic, payload, qos=1, retain=retain)
        deadline = time.monotonic() + wait_s
        while time.monotonic() < deadline:
            with self._acks_lock:
                reason = self._acks.pop(info.mid, None)
            if reason is not None:
                if reason.is_failure:
                    raise OpsError(
                        f"broker {self.broker.where} refused the message on {topic}: {reason} "
                        "(does the ACL let this tool's identity write there?)"
                    )
                return
            time.sleep(0.01)
        raise OpsError(f"broker {self.broker.where} did not take the message on {topic} in time")

    def flush(self, wait_s: float = 30.0) -> None:
        """Wait (up to `wait_s`) until every message `send` queued is with the broker."""
        deadline = time.monotonic() + wait_s
        while any(not i.is_published() for i in self._pending) and time.monotonic() < deadline:
            time.sleep(0.02)
        self._pending = []


def _tls_context(files: TlsFiles) -> ssl.SSLContext:
    """The client context of edge.link.tls, each file's trouble named by its flag."""
    try:
        context = client_context(TlsFiles(files.ca))
    except (OSError, ValueError) as exc:  # ssl.SSLError is an OSError
        raise OpsError(
            f"--tls-ca {files.ca}: not a PEM CA certificate ({_ssl_words(exc)})"
        ) from exc
    if files.cert:
        try:
            context.load_cert_chain(files.cert, files.key or None)
        except (OSError, ValueError) as exc:
            raise OpsError(
                f"--tls-cert {files.cert}, --tls-key {files.key}: not a PEM certificate and the "
                f"private key that goes with it ({_ssl_words(exc)})"
            ) from exc
    return context


def _ssl_words(exc: BaseException) -> str:
    """An ssl error as words: OpenSSL's reason, without the library's codes and source lines."""
    reason = getattr(exc, "reason", None)
    if isinstance(reason, str):
        return reason.replace("_", " ").lower()
    text = str(getattr(exc, "strerror", None) or exc)
    return re.sub(r"\[\w+\]\s*|\s*\(_ssl\.c:\d+\)", "", text)
