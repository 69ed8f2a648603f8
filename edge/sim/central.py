"""A simulated central platform that speaks docs/protocol.md, for demos, tests and benchmarks.

It answers decide requests (a coupon for known visitors, `slide: null` for
others), stores event batches de-duplicated by event id, acknowledges them,
and keeps totals. It is a real MQTT client on a real broker: nothing in the
device is faked by it. Like a real platform, it answers decide requests on a
connection of its own, so a 50 MB asset or a backlog of event batches it is
busy with never holds up an answer the screen waits for.
"""

from __future__ import annotations

import hashlib
import itertools
import json
import logging
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterable
from typing import Any

import paho.mqtt.client as mqtt
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties

from edge.link.client import new_client
from edge.link.tls import TlsFiles

log = logging.getLogger(__name__)

CAMPAIGN = "welcome-back-2026"


def coupon_for(visitor: str) -> dict[str, Any]:
    """A deterministic personal coupon, A/B variant by visitor hash."""
    digest = hashlib.sha256(visitor.encode()).hexdigest()
    variant = "A" if int(digest[0], 16) < 8 else "B"
    code = "OMO-" + digest[:6].upper()
    title = "Welcome back!" if variant == "A" else "Good to see you again"
    return {
        "id": f"coupon-{variant.lower()}-{digest[:6]}",
        "kind": "coupon",
        "duration_ms": 6000,
        "title": title,
        "body": "15% off your next purchase in store or in the app",
        "code": code,
        "qr_url": f"https://example.invalid/c/{code}",
        "accent": "#f2aa4c" if variant == "A" else "#6cc3a0",
    }


class CentralSim:
    """Connect with `start()`, read totals with `totals()`, stop with `stop()`."""

    def __init__(
        self,
        host: str,
        port: int,
        *,
        prefix: str = "omo/v1",
        known: Iterable[str] | None = None,
        show_ms: int = 6000,
        ttl_ms: int = 60000,
        decide_delay_s: float = 0.0,
        tls: TlsFiles | None = None,
    ) -> None:
        """`tls`: CA and the central service's client certificate, for a fleet broker."""
        self.prefix = prefix
        self.known = None if known is None else set(known)
        self.show_ms, self.ttl_ms = show_ms, ttl_ms
        self.decide_delay_s = decide_delay_s
        """Answer decide requests this much later (a slow platform); settable while running."""
        self.acking = True
        self.slide_for: Callable[[str], dict[str, Any]] | None = None
        """What central shows a known visitor (None: the A/B coupon); settable while running."""
        self.answer_missing = False
        """Answer a request for an asset it does not have on `P/asset/missing`."""
        self._cmd_numbers = itertools.count()
        self.events: dict[str, dict[str, Any]] = {}
        self.duplicates = 0
        self.batches: Counter[str] = Counter()
        self.decisions = 0
        self.decide_requests: list[dict[str, Any]] = []
        """Every decide request's body, in arrival order."""
        self.states: dict[str, dict[str, Any]] = {}
        self.bad_payloads = 0
        self.assets: dict[str, bytes] = {}  # sha256 -> bytes it serves on P/asset/get
        self.asset_requests: Counter[str] = Counter()
        self.cmd_results: dict[str, dict[str, Any]] = {}
        self.cmd_result_parts: dict[str, list[dict[str, Any]]] = {}  # every result, in order
        self._lock = threading.Lock()
        self._connected = threading.Event()
        self._host, self._port, self._tls = host, port, tls
        self._decide_connected = threading.Event()
        self._client = self._new_client("central-sim", self._on_connect)
        self._decider = self._new_client("central-sim-decide", self._on_connect_decide)

    def _new_client(self, client_id: str, on_connect: Any) -> mqtt.Client:
        c = new_client(client_id, tls=self._tls)
        c.on_connect = on_connect
        c.on_message = self._on_message
        c.reconnect_delay_set(1, 2)
        return c

    def start(self, timeout_s: float = 10.0) -> None:
        for client in (self._client, self._decider):
            client.connect_async(self._host, self._port, 30)
            client.loop_start()
        deadline = time.monotonic() + timeout_s
        for connected in (self._connected, self._decide_connected):
            if not connected.wait(max(0.0, deadline - time.monotonic())):
                self.stop()
                raise TimeoutError(
                    f"central sim could not reach the broker at {self._host}:{self._port}"
                )

    def stop(self) -> None:
        for client in (self._client, self._decider):
            client.disconnect()
            client.loop_stop()

    def __enter__(self) -> CentralSim:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def _on_connect(self, client: mqtt.Client, *_a: Any) -> None:
        p = self.prefix
        client.subscribe(
            [
                (f"{p}/+/+/events", 1),
                (f"{p}/+/+/state", 1),
                (f"{p}/+/+/asset/get", 1),
                (f"{p}/+/+/cmd/result", 1),
            ]
        )
        self._connected.set()

    def _on_connect_decide(self, client: mqtt.Client, *_a: Any) -> None:
        client.subscribe(f"{self.prefix}/+/+/decide", 1)
        self._decide_connected.set()

    def _on_message(self, client: mqtt.Client, _u: Any, msg: mqtt.MQTTMessage) -> None:
        try:
            body = json.loads(msg.payload)
            if not isinstance(body, dict):
                raise ValueError("not an object")
            kind = msg.topic.rsplit("/", 1)[1]
            device_topic = msg.topic.rsplit("/", 1)[0]
            if msg.topic.endswith("/asset/get"):
                self._serve_asset(client, msg.topic.removesuffix("/asset/get"), body)
            elif msg.topic.endswith("/cmd/result"):
                with self._lock:
                    self.cmd_results[str(body["cmd_id"])] = body
                    self.cmd_result_parts.setdefault(str(body["cmd_id"]), []).append(body)
            elif kind == "decide":
                self._decide(client, msg, body)
            elif kind == "events":
                self._store(client, device_topic, body)
            elif kind == "state":
                with self._lock:
                    self.states[device_topic] = body
        except (ValueError, KeyError, TypeError) as exc:
            with self._lock:
                self.bad_payloads += 1
            log.warning("central sim: bad payload on %s: %s", msg.topic, exc)

    def _decide(self, client: mqtt.Client, msg: mqtt.MQTTMessage, body: dict[str, Any]) -> None:
        props = msg.properties
        response_topic = getattr(props, "ResponseTopic", None)
        if not response_topic:
            raise ValueError("decide request without a Response Topic")
        with self._lock:
            self.decide_requests.append(dict(body))
        visitor = str(body["visitor"])
        known = self.known is None or visitor in self.known
        chosen = self.slide_for
        slide = (chosen or coupon_for)(visitor) if known else None
        answer = {
            "request_id": body["request_id"],
            "visitor": visitor,
            "show_ms": self.show_ms,
            "ttl_ms": self.ttl_ms,
            "slide": slide,
            "content_id": slide["id"] if slide else "",
            "campaign_id": CAMPAIGN if slide else None,
            "variant": slide["id"].split("-")[1].upper() if slide and not chosen else None,
        }
        out = Properties(PacketTypes.PUBLISH)  # type: ignore[no-untyped-call]
        correlation = getattr(props, "CorrelationData", None)
        if correlation is not None:
            out.CorrelationData = correlation
        payload = json.dumps(answer).encode()

        def send() -> None:
            client.publish(response_topic, payload, qos=1, properties=out)
            with self._lock:
                self.decisions += 1

        delay = self.decide_delay_s
        if delay > 0:  # a timer, so the network loop keeps serving events meanwhile
            timer = threading.Timer(delay, send)
            timer.daemon = True
            timer.start()
        else:
            send()

    def _store(self, client: mqtt.Client, device_topic: str, body: dict[str, Any]) -> None:
        batch_id = str(body["batch_id"])
        events = body["events"]
        if not isinstance(events, list):
            raise ValueError("events is not a list")
        new = 0
        with self._lock:
            self.batches[batch_id] += 1
            for event in events:
                if event["id"] in self.events:
                    self.duplicates += 1
                else:
                    self.events[event["id"]] = event
                    new += 1
            acking = self.acking
        if acking:
            client.publish(f"{device_topic}/events/ack", json.dumps({"batch_id": batch_id}), qos=1)

    def _serve_asset(self, client: mqtt.Client, device_topic: str, body: dict[str, Any]) -> None:
        sha = str(body["sha256"])
        with self._lock:
            self.asset_requests[sha] += 1
            data = self.assets.get(sha)
        if data is not None:
            client.publish(f"{device_topic}/asset/{sha}", data, qos=1)
        elif self.answer_missing:
            body = {"sha256": sha, "detail": "not in the simulator's assets"}
            client.publish(f"{device_topic}/asset/missing", json.dumps(body), qos=1)

    def publish(self, topic: str, payload: bytes, retain: bool = False) -> None:
        """Publish as central (manifests, check-ins, commands) and wait until the broker has it."""
        self._client.publish(topic, payload, qos=1, retain=retain).wait_for_publish(5)

    def command(
        self,
        device_topic: str,
        cmd: str,
        args: dict[str, Any] | None = None,
        cmd_id: str | None = None,
        expires_in_s: float = 60,
    ) -> str:
        """Send `P/cmd`; the answer lands in `cmd_results[cmd_id]`."""
        now = int(time.time() * 1000)
        cmd_id = cmd_id or f"cmd-{now}-{next(self._cmd_numbers)}"  # unique within one ms too
        body = {
            "cmd_id": cmd_id,
            "cmd": cmd,
            "args": args or {},
            "ts": now,
            "expires_ts": now + int(expires_in_s * 1000),
        }
        self.publish(f"{device_topic}/cmd", json.dumps(body).encode())
        return cmd_id

    def totals(self) -> dict[str, Any]:
        with self._lock:
            types = Counter(e["type"] for e in self.events.values())
            return {
                "events": len(self.events),
                "by_type": dict(sorted(types.items())),
                "duplicates": self.duplicates,
                "batches": len(self.batches),
                "decisions": self.decisions,
                "bad_payloads": self.bad_payloads,
            }

    def events_of(self, type_: str) -> list[dict[str, Any]]:
        with self._lock:
            return [e for e in self.events.values() if e["type"] == type_]
