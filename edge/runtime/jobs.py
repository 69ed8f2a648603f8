"""Short jobs that handlers start (a decide request, a command), run under a supervised task.

A handler must not start tasks of its own: they would live outside the
supervisor and vanish silently. It submits a job instead; one supervised task
runs the jobs side by side in its own TaskGroup, so they end with the daemon.
A job that raises is logged with its traceback and counted; the others go on.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable

from edge.runtime.supervisor import Task

log = logging.getLogger(__name__)

Job = Callable[[], Awaitable[None]]


class Jobs:
    def __init__(self, name: str) -> None:
        self.name = name
        self._queue: asyncio.Queue[Job] = asyncio.Queue()
        self._running = 0
        self.failed = 0

    def submit(self, job: Job) -> None:
        """Run `job()` soon (jobs submitted before the task runs wait for it)."""
        self._queue.put_nowait(job)

    @property
    def busy(self) -> bool:
        """Jobs are waiting or running."""
        return self._running > 0 or not self._queue.empty()

    async def idle(self) -> None:
        """Wait until every job submitted so far has ended (tests, benchmarks)."""
        while self.busy:
            await asyncio.sleep(0.001)

    def task(self) -> Task:
        return Task(self.name, self._run)

    async def _run(self) -> None:
        async with asyncio.TaskGroup() as group:
            while True:
                job = await self._queue.get()
                self._running += 1
                group.create_task(self._guarded(job))

    async def _guarded(self, job: Job) -> None:
        try:
            await job()
        except Exception:
            self.failed += 1
            log.exception("%s job failed", self.name)
        finally:
            self._running -= 1
