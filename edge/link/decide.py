"""Decide requests: MQTT 5 request/response with a deadline.

Each request carries Response Topic `P/decision` and Correlation Data = its
request_id. An answer after the deadline finds no waiter and is dropped.
"""

from __future__ import annotations

import asyncio
import logging
import time

from edge.ids import new_id
from edge.link.schemas import Decide, Decision, encode
from edge.link.session import MqttLink

log = logging.getLogger(__name__)


class Decider:
    def __init__(self, link: MqttLink, timeout_s: float) -> None:
        self._link = link
        self._timeout_s = timeout_s
        self._waiting: dict[str, asyncio.Future[Decision]] = {}
        self.timeouts = 0
        self.late = 0

    @property
    def online(self) -> bool:
        return self._link.connected.is_set()

    async def ask(self, visitor: str, visit_id: str, trigger: str, zone: str) -> Decision | None:
        """The platform's decision, or None (offline, timed out): show local content."""
        if not self._link.connected.is_set():
            return None
        request_id = new_id()
        future: asyncio.Future[Decision] = asyncio.get_running_loop().create_future()
        self._waiting[request_id] = future
        body = Decide(
            request_id=request_id,
            visitor=visitor,
            visit_id=visit_id,
            trigger=trigger,  # type: ignore[arg-type]
            zone=zone,  # type: ignore[arg-type]
            ts=int(time.time() * 1000),
        )
        self._link.publish(
            self._link.topics.decide,
            encode(body),
            response_topic=self._link.topics.decision,
            correlation=request_id.encode(),
        )
        try:
            return await asyncio.wait_for(future, self._timeout_s)
        except TimeoutError:
            self.timeouts += 1
            log.info("no decision within %.0f ms; showing local content", self._timeout_s * 1000)
            return None
        finally:
            self._waiting.pop(request_id, None)

    def answer(self, decision: Decision, correlation: bytes | None) -> bool:
        """Hand an incoming decision to its waiter; False if nobody waits (late or unknown)."""
        request_id = correlation.decode(errors="replace") if correlation else decision.request_id
        future = self._waiting.get(request_id)
        if future is None or future.done() or request_id != decision.request_id:
            self.late += 1
            log.info("dropped a decision nobody waits for (late or unknown request)")
            return False
        future.set_result(decision)
        return True
