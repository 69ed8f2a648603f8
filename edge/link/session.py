"""The paho-mqtt 2 adapter: one MQTT 5 session, handed to asyncio as a queue.

paho runs its own network thread; everything it reports crosses into the
event loop through `loop.call_soon_threadsafe` and nothing else. Incoming
messages are acknowledged to the broker (manual ack) only when the handler
says it is done with them, so a crash never drops a committed-later message.
"""

from __future__ import annotations

import asyncio
import logging
import random
import ssl
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field, fields
from typing import TYPE_CHECKING, Any, Literal

import paho.mqtt.client as mqtt
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties
from paho.mqtt.reasoncodes import ReasonCode
from paho.mqtt.subscribeoptions import SubscribeOptions

from edge import PROTOCOL_VERSION, __version__
from edge.link import paho_shim
from edge.link.backoff import ReconnectPlan
from edge.link.capabilities import capabilities
from edge.link.client import new_client
from edge.link.schemas import State, encode
from edge.link.tls import TlsFiles, client_context, file_signature
from edge.link.topics import Topics
from edge.quiet import QuietLog

if TYPE_CHECKING:
    from edge.config.sections import MqttConfig

log = logging.getLogger(__name__)


Payload = bytes | memoryview
"""A message body: bytes, or for a big one (an asset) a view of paho's receive buffer."""
SMALL_PAYLOAD = 64 * 1024


@dataclass(frozen=True, slots=True)
class Incoming:
    topic: str
    payload: Payload
    mid: int
    qos: int
    correlation: bytes | None


@dataclass(frozen=True, slots=True)
class Channel:
    """One of the device's MQTT connections.

    The main one carries the session (check-ins and commands wait at the broker
    while the device is away), the retained state and the will. Assets, up to
    hundreds of MB, come on a second connection of their own: on the main one a
    big asset would hold up every decision queued behind it for seconds (one TCP
    stream delivers in order). It needs no session: a missed asset is asked again.
    """

    name: str
    client_suffix: str
    persistent: bool
    announces_state: bool

    def client_id(self, device_id: str) -> str:
        return device_id + self.client_suffix

    def subscriptions(self, topics: Topics) -> list[str]:
        return topics.subscriptions() if self.name == "main" else [topics.assets]


MAIN = Channel("main", "", persistent=True, announces_state=True)
ASSETS = Channel("assets", "~assets", persistent=False, announces_state=False)
"""`~` cannot occur in a device id, so the asset connection's client id is never another's."""


@dataclass(frozen=True, slots=True)
class BrokerSettings:
    host: str
    port: int
    username: str = ""
    password: str = field(default="", repr=False)  # never in a log line
    tls_ca: str = ""
    tls_cert: str = ""
    tls_key: str = ""
    keepalive_s: int = 30
    session_expiry_s: int = 7 * 24 * 3600
    hosts: tuple[str, ...] = ()
    reconnect_base_s: float = 1.0
    reconnect_cap_s: float = 30.0

    @property
    def nodes(self) -> tuple[str, ...]:
        """The broker's nodes to fail over between: `hosts`, else the one `host`."""
        return self.hosts or (self.host,)

    @classmethod
    def from_config(cls, mqtt: MqttConfig) -> BrokerSettings:
        """The `[mqtt]` section's broker, credentials and session settings."""
        return cls(**{f.name: getattr(mqtt, f.name) for f in fields(cls)})


class MqttLink:
    """Connects, keeps reconnecting, publishes retained state and the will, feeds `incoming`."""

    def __init__(
        self,
        topics: Topics,
        broker: BrokerSettings,
        loop: asyncio.AbstractEventLoop,
        clock_synced: Callable[[], bool],
        *,
        queue_size: int = 1024,
        state: Callable[[], dict[str, Any]] = dict,
        channel: Channel = MAIN,
    ) -> None:
        """`state`: more fields for the retained `P/state` (read at each publication)."""
        self.channel = channel
        self.topics = topics
        self.broker = broker
        self._loop = loop
        self._clock_synced = clock_synced
        self._state_extra = state
        self.incoming: asyncio.Queue[Incoming] = asyncio.Queue(queue_size)
        self.connected = asyncio.Event()
        self.disconnected = asyncio.Event()
        self.disconnected.set()
        self.dropped_incoming = 0
        self._quiet = QuietLog(log)
        self._stopping = False
        self._tls: ssl.SSLContext | None = None
        self._tls_files = TlsFiles(broker.tls_ca, broker.tls_cert, broker.tls_key)
        self._tls_signature = file_signature(broker.tls_ca, broker.tls_cert, broker.tls_key)
        if broker.tls_ca:
            self._tls = client_context(self._tls_files)
        client = new_client(
            channel.client_id(topics.device_id),
            tls=self._tls,
            username=broker.username,
            password=broker.password,
            manual_ack=True,
            zero_copy=True,
        )
        client.on_connect = self._on_connect
        client.on_disconnect = self._on_disconnect
        client.on_connect_fail = self._on_connect_fail
        client.on_message = self._on_message
        # paho's own ladder (1, 2, 4 ... s, no jitter) is off: `_before_connect` waits instead,
        # full jitter over the node list (edge/link/backoff.py), so a broker restart is not
        # answered by every screen at the same instant.
        client.reconnect_delay_set(min_delay=0, max_delay=0)
        self._plan = ReconnectPlan(
            broker.nodes,
            channel.client_id(topics.device_id),
            base_s=broker.reconnect_base_s,
            cap_s=broker.reconnect_cap_s,
        )
        self._stop_waiting = threading.Event()
        client.on_pre_connect = self._before_connect
        if channel.announces_state:
            client.will_set(topics.state, self._state_payload("offline"), qos=1, retain=True)
        self._client = client

    def _state_payload(self, state: Literal["online", "offline"]) -> bytes:
        return encode(
            State(
                state=state,
                version=__version__,
                protocol=PROTOCOL_VERSION,
                capabilities=capabilities(),
                clock_synced=self._clock_synced(),
                ts=int(time.time() * 1000),
                **self._state_extra(),
            )
        )

    # -- lifecycle -------------------------------------------------------------
    def start(self) -> None:
        """Begin connecting in paho's thread; returns at once (the broker may be down)."""
        # A persistent session: QoS 1 messages for us (check-ins, commands) wait at the
        # broker while we are away, and unacknowledged ones come again after a crash.
        props = Properties(PacketTypes.CONNECT)  # type: ignore[no-untyped-call]
        persistent = self.channel.persistent
        props.SessionExpiryInterval = self.broker.session_expiry_s if persistent else 0
        self._client.connect_async(
            self._plan.node,
            self.broker.port,
            self.broker.keepalive_s,
            clean_start=not persistent,
            properties=props,
        )
        self._client.loop_start()

    def stop(self) -> None:
        """Say offline (retained), disconnect cleanly, stop paho's thread."""
        self._stopping = True
        self._stop_waiting.set()  # a backoff wait in paho's thread ends now
        if self._client.is_connected() and self.channel.announces_state:
            info = self._client.publish(self.topics.state, self._state_payload("offline"), 1, True)
            deadline = time.monotonic() + 2.0
            while (
                not info.is_published()
                and time.monotonic() < deadline
                and self._client.is_connected()
            ):
                time.sleep(0.01)
        self._client.disconnect()
        self._client.loop_stop()

    # -- paho thread callbacks (never touch asyncio objects directly) ----------
    def _before_connect(self, client: mqtt.Client, _u: Any) -> None:
        """paho's thread, before each attempt: wait the backoff, aim at the next node."""
        node, delay = self._plan.next_attempt(random.uniform)
        if delay > 0 and not self._stopping:
            log.debug("reconnecting to %s in %.2f s (full-jitter backoff)", node, delay)
            self._stop_waiting.wait(delay)
        if self._stopping:  # paho counts this as a failed attempt and its loop ends
            raise OSError("the link is stopping")
        paho_shim.aim_next_attempt(client, node)
        b = self.broker
        log.debug(
            "connecting to broker %s:%s as %s%s%s",
            node,
            b.port,
            self.topics.device_id,
            f" (user {b.username}, password set)" if b.password else "",
            f" over TLS, certificate {b.tls_cert or 'none'}" if b.tls_ca else " without TLS",
        )
        self._reload_certificate()

    def _reload_certificate(self) -> None:
        """Before every (re)connect: take up a certificate renewed, or a CA bundle rotated,
        on disk.

        paho keeps the context it was given for good, so a renewed certificate
        would otherwise be ignored until a restart, and a revoked or expired one
        presented to the broker forever. A new context is built from the files
        and put in place of the old (an SSLContext can gain CAs, never lose one).
        """
        files = self._tls_files
        signature = file_signature(files.ca, files.cert, files.key)
        if self._tls is None or signature == self._tls_signature:
            return
        try:
            # Built aside: a pair that does not match (the certificate written, its key
            # not yet) leaves the live context as it was.
            fresh = client_context(files)
        except OSError as exc:  # ssl.SSLError included
            self._quiet.problem(
                "tls-reload",
                "cannot use the renewed client certificate %s or CA bundle %s yet: %s",
                files.cert or "-",
                files.ca,
                exc,
            )
            return
        paho_shim.use_tls_context(self._client, fresh)
        self._tls = fresh
        self._quiet.resolved("tls-reload", "TLS files reloaded")
        what = [
            name
            for name, before, after in zip(
                (f"CA bundle {files.ca}", f"client certificate {files.cert}", f"key {files.key}"),
                self._tls_signature,
                signature,
                strict=True,
            )
            if before != after
        ]
        log.info("%s changed on disk; using the new one", " and ".join(what))
        self._tls_signature = signature

    def _on_connect(
        self, client: mqtt.Client, _u: Any, _f: Any, reason: ReasonCode, _p: Properties | None
    ) -> None:
        if reason.is_failure:
            self._problem(
                "connect",
                "broker %s:%s refused the connection: %s",
                self._plan.node,
                self.broker.port,
                reason,
            )
            return
        self._plan.connected()
        node = self._plan.node
        if self.channel.announces_state:  # the asset connection follows quietly
            said = self._quiet.resolved(
                "connect", "connected to broker %s:%s", node, self.broker.port
            )
            if not said:  # once per connection, after a problem as at the first
                log.info("connected to broker %s:%s", node, self.broker.port)
        # No Local: `P/asset/+` would otherwise bring back our own `P/asset/get`.
        options = SubscribeOptions(qos=1, noLocal=True)
        client.subscribe([(t, options) for t in self.channel.subscriptions(self.topics)])
        if self.channel.announces_state:
            client.publish(self.topics.state, self._state_payload("online"), qos=1, retain=True)
        self._loop.call_soon_threadsafe(self._set_connected, True)

    def _on_connect_fail(self, _c: mqtt.Client, _u: Any) -> None:
        # paho calls this inside its `except OSError`, so the reason is still at hand.
        exc = sys.exc_info()[1]
        if self._stopping:
            return
        if isinstance(exc, ssl.SSLError):
            why = f"TLS handshake failed: {exc.reason or exc}"
            if isinstance(exc, ssl.SSLCertVerificationError):
                why = f"the broker's certificate was not accepted: {exc.verify_message}"
        else:
            why = str(exc) if exc else "no connection"
        self._problem(
            "connect",
            "cannot connect to broker %s:%s (%s); retrying in the background",
            self._plan.node,
            self.broker.port,
            why,
        )

    def _on_disconnect(
        self, _c: mqtt.Client, _u: Any, _f: Any, reason: ReasonCode, _p: Properties | None
    ) -> None:
        self._loop.call_soon_threadsafe(self._set_connected, False)
        if self._stopping:
            return
        self._problem(
            "connect",
            "lost the broker %s:%s (%s); reconnecting in the background",
            self._plan.node,
            self.broker.port,
            reason,
        )

    def _problem(self, key: str, message: str, *args: object) -> None:
        """Broker trouble: said by the main connection; the asset connection only debugs."""
        if self.channel.announces_state:
            self._quiet.problem(key, message, *args)
        else:
            log.debug("asset connection: " + message, *args)

    def _set_connected(self, up: bool) -> None:
        (self.connected.set if up else self.connected.clear)()
        (self.disconnected.clear if up else self.disconnected.set)()

    def _on_message(self, _c: mqtt.Client, _u: Any, msg: mqtt.MQTTMessage) -> None:
        props = getattr(msg, "properties", None)
        correlation = getattr(props, "CorrelationData", None) if props is not None else None
        payload: Payload = msg.payload  # type: ignore[assignment]  # a view (paho_shim)
        if len(payload) <= SMALL_PAYLOAD:  # a copy costs nothing; a big one stays a view
            payload = bytes(payload)
        item = Incoming(msg.topic, payload, msg.mid, msg.qos, correlation)
        self._loop.call_soon_threadsafe(self._enqueue, item)

    def _enqueue(self, item: Incoming) -> None:
        try:
            self.incoming.put_nowait(item)
        except asyncio.QueueFull:
            # Not acknowledged: with QoS 1 the broker redelivers after reconnect.
            self.dropped_incoming += 1
            self._quiet.problem(
                "incoming-full", "incoming queue full; dropped a message on %s", item.topic
            )

    @property
    def connect_attempts(self) -> int:
        """Connection attempts made so far (the first one included)."""
        return self._plan.attempts

    # -- used from the event loop ----------------------------------------------
    def ack(self, item: Incoming) -> None:
        """Tell the broker we are done with `item` (after committing what it carried)."""
        if item.qos > 0:
            self._client.ack(item.mid, item.qos)

    def publish_state(self) -> None:
        """Publish the retained `P/state` again (something in it changed)."""
        if self._client.is_connected() and self.channel.announces_state:
            self._client.publish(self.topics.state, self._state_payload("online"), 1, True)

    def publish(
        self,
        topic: str,
        payload: bytes,
        *,
        qos: int = 1,
        response_topic: str | None = None,
        correlation: bytes | None = None,
    ) -> None:
        props = None
        if response_topic is not None:
            props = Properties(PacketTypes.PUBLISH)  # type: ignore[no-untyped-call]
            props.ResponseTopic = response_topic
            if correlation is not None:
                props.CorrelationData = correlation
        self._client.publish(topic, payload, qos=qos, properties=props)
