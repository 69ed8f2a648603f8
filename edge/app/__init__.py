"""The composition root: builds the services from the typed config, owns the render
thread, the I/O thread and one supervised TaskGroup, and the one bridge between them."""

from edge.app.device import Device
from edge.app.stats import Stats

__all__ = ["Device", "Stats"]
