"""What a feature hands the composition root: its MQTT routes, its tasks, its health figures.

A service never starts a task or subscribes a handler itself: the root runs
its tasks under the supervisor and puts its routes on the router, and takes
them away again when the device goes offline (unpaired).
"""

from __future__ import annotations

from collections.abc import Mapping

from edge.link.router import Route
from edge.link.topics import Topics
from edge.runtime.supervisor import Task

Figures = Mapping[str, int | float | str]


class Service:
    """Base for the daemon's services; every method has a do-nothing default."""

    name = "service"

    def tasks(self) -> list[Task]:
        """Background jobs for as long as the service runs."""
        return []

    def routes(self, topics: Topics) -> list[Route]:
        """Handlers for incoming MQTT messages (only while online)."""
        return []

    def health(self) -> Figures:
        """Counters and state for the `device.health` event."""
        return {}
