"""A small MQTT 5 client with a TLS identity, for poking at the fleet broker in tests."""

from __future__ import annotations

import ssl
import sys
import threading
import time
from typing import Any

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion
from paho.mqtt.reasoncodes import ReasonCode


class Probe:
    """Connects once (no retries), records every message and every PUBACK's reason code."""

    def __init__(self, port: int, ctx: ssl.SSLContext, client_id: str) -> None:
        self.port = port
        self.messages: list[tuple[str, bytes]] = []
        self.result = ""
        self._outcome = threading.Event()
        self._cond = threading.Condition()
        self._acks: dict[int, ReasonCode] = {}
        self._subacks: dict[int, list[ReasonCode]] = {}
        c = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=client_id, protocol=mqtt.MQTTv5)
        c.tls_set_context(ctx)
        c.on_connect = self._on_connect
        c.on_connect_fail = self._on_connect_fail
        c.on_disconnect = self._on_disconnect
        c.on_message = self._on_message
        c.on_publish = self._on_publish
        c.on_subscribe = self._on_subscribe
        self.client = c

    def _settle(self, result: str) -> None:
        if not self._outcome.is_set():
            self.result = result
            self._outcome.set()

    def _on_connect(self, _c: Any, _u: Any, _f: Any, rc: ReasonCode, _p: Any) -> None:
        self._settle("connected" if not rc.is_failure else f"refused: {rc}")

    def _on_connect_fail(self, _c: Any, _u: Any) -> None:
        self._settle(f"failed: {sys.exc_info()[1]!r}")

    def _on_disconnect(self, _c: Any, _u: Any, _f: Any, rc: ReasonCode, _p: Any) -> None:
        self._settle(f"disconnected: {rc}")

    def _on_message(self, _c: Any, _u: Any, msg: mqtt.MQTTMessage) -> None:
        with self._cond:
            self.messages.append((msg.topic, bytes(msg.payload)))
            self._cond.notify_all()

    def _on_publish(self, _c: Any, _u: Any, mid: int, rc: ReasonCode, _p: Any) -> None:
        with self._cond:
            self._acks[mid] = rc
            self._cond.notify_all()

    def _on_subscribe(self, _c: Any, _u: Any, mid: int, rcs: list[ReasonCode], _p: Any) -> None:
        with self._cond:
            self._subacks[mid] = rcs
            self._cond.notify_all()

    def connect(self, timeout_s: float = 15) -> str:
        """'connected', or how the attempt ended; the probe never retries."""
        self.client.connect_async("127.0.0.1", self.port, 30)
        self.client.loop_start()
        if not self._outcome.wait(timeout_s):
            self.result = "no outcome"
        if self.result != "connected":
            self.close()
        return self.result

    def _wait(self, table: dict[int, Any], mid: int, timeout_s: float) -> Any:
        deadline = time.monotonic() + timeout_s
        with self._cond:
            while mid not in table:
                left = deadline - time.monotonic()
                if left <= 0:
                    raise TimeoutError(f"no answer from the broker for message id {mid}")
                self._cond.wait(left)
            return table[mid]

    def subscribe(self, *topics: str, timeout_s: float = 10) -> list[ReasonCode]:
        """Subscribe (QoS 1) and return the SUBACK's reason codes."""
        _rc, mid = self.client.subscribe([(t, 1) for t in topics])
        return list(self._wait(self._subacks, int(mid or 0), timeout_s))

    def publish(
        self, topic: str, payload: bytes, *, retain: bool = False, timeout_s: float = 10
    ) -> ReasonCode:
        """Publish at QoS 1 and return the PUBACK's reason code (135 = not authorized)."""
        info = self.client.publish(topic, payload, qos=1, retain=retain)
        return self._wait(self._acks, info.mid, timeout_s)  # type: ignore[no-any-return]

    def wait_message(self, topic: str, payload: bytes, timeout_s: float = 10) -> None:
        deadline = time.monotonic() + timeout_s
        with self._cond:
            while (topic, payload) not in self.messages:
                left = deadline - time.monotonic()
                if left <= 0:
                    raise TimeoutError(f"{payload!r} never arrived on {topic}")
                self._cond.wait(left)

    def payloads(self) -> list[bytes]:
        with self._cond:
            return [p for _t, p in self.messages]

    def close(self) -> None:
        self.client.disconnect()
        self.client.loop_stop()
