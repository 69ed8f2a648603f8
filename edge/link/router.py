"""The topic router: each incoming MQTT message goes to the handler of its topic.

Services register handlers; the inbox task takes messages off the link one by
one and dispatches them. Whatever a handler does wrong stays with that message:

- `PayloadRejected` (bad input from outside) is logged once loudly, then
  quietly, counted, and the message acknowledged: it would be as bad again;
- any other exception is a bug: logged with its traceback, counted by route
  (`handler_errors`, in `device.health`), the message acknowledged and dropped.

So the inbox never dies: the device keeps hearing central whatever one payload
or one handler does. A handler returns False to leave its message unacknowledged
(the broker redelivers it after a reconnect): what it carried could not be
committed yet.
"""

from __future__ import annotations

import logging
from collections import Counter
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from edge.errors import PayloadRejected
from edge.link.session import Incoming, MqttLink
from edge.quiet import QuietLog

log = logging.getLogger(__name__)

Handler = Callable[[Incoming], Awaitable[bool]]


@dataclass(frozen=True, slots=True)
class Route:
    """Messages on `topic`, or on every topic under `prefix` (e.g. `P/asset/`)."""

    name: str
    handler: Handler
    topic: str | None = None
    prefix: str | None = None
    exclude: frozenset[str] = frozenset()

    def matches(self, topic: str) -> bool:
        if topic in self.exclude:
            return False
        if self.topic is not None:
            return topic == self.topic
        return self.prefix is not None and topic.startswith(self.prefix)


class TopicRouter:
    def __init__(self, *, ack_unrouted: bool = True) -> None:
        """`ack_unrouted=False`: a message nobody here handles is left for the broker to
        deliver again (a tool sharing the device's session must not swallow check-ins)."""
        self._ack_unrouted = ack_unrouted
        self._routes: list[Route] = []
        self._quiet = QuietLog(log)
        self.rejected: Counter[str] = Counter()
        """Payloads refused as malformed, by route name."""
        self.handler_errors: Counter[str] = Counter()
        """Unexpected exceptions in handlers, by route name."""
        self.unrouted = 0

    def add(self, *routes: Route) -> None:
        self._routes += routes

    def remove(self, names: set[str]) -> None:
        """Take routes away (their service went offline)."""
        self._routes = [r for r in self._routes if r.name not in names]

    def route_for(self, topic: str) -> Route | None:
        return next((r for r in self._routes if r.matches(topic)), None)

    async def dispatch(self, item: Incoming) -> bool:
        """Hand `item` to its handler; True when the broker may forget it (acknowledge)."""
        route = self.route_for(item.topic)
        if route is None:
            self.unrouted += 1
            log.debug("message on unexpected topic %s ignored", item.topic)
            return self._ack_unrouted
        try:
            return await route.handler(item)
        except PayloadRejected as exc:
            self.rejected[route.name] += 1
            self._quiet.problem(f"payload:{item.topic}", "%s (counted; ignored)", exc)
            return True  # bad input is not redelivered: it would be just as bad again
        except Exception:  # a bug in a handler must not silence the device
            self.handler_errors[route.name] += 1
            log.exception(
                "handler %r failed on a message on %s; message dropped", route.name, item.topic
            )
            return True

    def health(self) -> dict[str, int]:
        out = {"rejected_payloads": sum(self.rejected.values())}
        out.update({f"handler_errors_{k}": v for k, v in self.handler_errors.items()})
        out["handler_errors"] = sum(self.handler_errors.values())
        return out


async def serve_inbox(link: MqttLink, router: TopicRouter) -> None:
    """The inbox task: messages one at a time, each to its route, acknowledged when done."""
    while True:
        item = await link.incoming.get()
        if await router.dispatch(item):
            link.ack(item)
