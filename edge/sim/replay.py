"""A beacon source that replays a recorded trace (docs/traces.md), in scaled or no time."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import AsyncIterator
from dataclasses import replace
from pathlib import Path

from edge.errors import TraceLineError
from edge.presence.advert import Advert
from edge.presence.trace import read_trace

log = logging.getLogger(__name__)


class ReplaySource:
    """Replays `path`. speed 1 = real time, 10 = ten times faster, 0 = no waiting at all.

    With speed 0 the source clock is the trace time of the last advert, so
    the tracker sees exactly the times in the file.
    """

    def __init__(self, path: Path, speed: float = 1.0, loop: bool = False) -> None:
        self.path = path
        self.speed = speed
        self.loop = loop
        self.malformed = 0
        self.done = False
        self._origin = time.monotonic()
        self._offset = 0.0  # trace time added per completed loop
        self._last_t = 0.0

    def now(self) -> float:
        if self.speed == 0:
            return self._last_t
        return (time.monotonic() - self._origin) * self.speed

    def health(self) -> dict[str, int | float | str]:
        return {"state": "done" if self.done else "replaying", "malformed_lines": self.malformed}

    async def adverts(self) -> AsyncIterator[Advert]:
        self._origin = time.monotonic()
        while True:
            last_in_file = 0.0
            for count, advert in enumerate(read_trace(self.path)):
                if isinstance(advert, TraceLineError):
                    self.malformed += 1
                    log.warning("trace %s: skipped malformed %s", self.path.name, advert)
                    continue
                last_in_file = advert.t
                t = advert.t + self._offset
                if self.speed > 0:
                    delay = t - self.now()
                    if delay > 0:
                        await asyncio.sleep(delay / self.speed)
                elif count % 256 == 0:
                    await asyncio.sleep(0)  # let the rest of the loop breathe
                self._last_t = t
                yield replace(advert, t=t) if self._offset else advert
            if not self.loop:
                break
            self._offset += last_in_file + 1.0
        self.done = True
