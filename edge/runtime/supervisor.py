"""Every background task of the daemon, in one TaskGroup, kept alive.

A task that raises is logged with its traceback, counted (`task_restarts`, in
`device.health`) and started again after a backoff that doubles from
`backoff_s` to `backoff_max_s`. A task that keeps failing (`give_up_after`
failures within `window_s`) cannot be kept alive here: the supervisor raises
TaskFailed, the TaskGroup cancels everything else, and the daemon exits
non-zero so systemd restarts it. A task that returns has finished its work
(a replay that ended, no systemd to notify) and is not restarted.

Tasks belong to groups, so a part of the daemon can be stopped as a whole
(e.g. everything that talks to central, when the device is unpaired).
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import Counter, deque
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from types import TracebackType

from edge.errors import EdgeError

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class Task:
    """A named background job; `run` makes a fresh coroutine for each (re)start."""

    name: str
    run: Callable[[], Awaitable[None]]


class TaskFailed(EdgeError):
    """A task failed too often to keep restarting it; the daemon must restart."""

    def __init__(self, name: str, failures: int, window_s: float) -> None:
        self.name = name
        super().__init__(
            f"task {name!r} failed {failures} times within {window_s:.0f} s; giving up"
        )


class Supervisor:
    """Use as `async with Supervisor() as tasks:`; `tasks.start(...)` inside."""

    def __init__(
        self,
        *,
        backoff_s: float = 0.5,
        backoff_max_s: float = 30.0,
        give_up_after: int = 5,
        window_s: float = 600.0,
    ) -> None:
        self._backoff_s, self._backoff_max_s = backoff_s, backoff_max_s
        self._give_up_after, self._window_s = give_up_after, window_s
        self._group: asyncio.TaskGroup | None = None
        self._running: dict[str, tuple[str, asyncio.Task[None]]] = {}
        self.restarts: Counter[str] = Counter()

    async def __aenter__(self) -> Supervisor:
        self._group = asyncio.TaskGroup()
        await self._group.__aenter__()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        assert self._group is not None
        if exc_type is None:
            await self.stop()  # a clean exit ends every task; errors are the group's to raise
        try:
            await self._group.__aexit__(exc_type, exc, tb)
        except BaseExceptionGroup as group:
            failed = group.subgroup(TaskFailed)
            if failed is not None:
                raise failed.exceptions[0] from group
            raise
        finally:
            self._group = None

    def start(self, *tasks: Task, group: str = "main") -> None:
        """Run `tasks` until stopped; each restarted when it fails."""
        if self._group is None:
            raise RuntimeError("the supervisor is not running")
        for task in tasks:
            if task.name in self._running:
                raise ValueError(f"a task named {task.name!r} is already running")
            handle = self._group.create_task(self._keep(task), name=task.name)
            self._running[task.name] = (group, handle)
            handle.add_done_callback(self._ended)

    def _ended(self, handle: asyncio.Task[None]) -> None:
        self._running.pop(handle.get_name(), None)

    def running(self, group: str | None = None) -> list[str]:
        return [n for n, (g, _t) in self._running.items() if group is None or g == group]

    async def stop(self, group: str | None = None) -> None:
        """Cancel the tasks of `group` (None: all) and wait until they have ended."""
        handles = [t for g, t in self._running.values() if group is None or g == group]
        me = asyncio.current_task()
        handles = [t for t in handles if t is not me]
        for handle in handles:
            handle.cancel()
        await asyncio.gather(*handles, return_exceptions=True)

    async def _keep(self, task: Task) -> None:
        failures: deque[float] = deque()
        delay = self._backoff_s
        while True:
            started = time.monotonic()
            try:
                await task.run()
                return
            except Exception as exc:
                now = time.monotonic()
                if now - started > self._backoff_max_s:
                    delay = self._backoff_s  # it ran well for a while: start the backoff afresh
                failures.append(now)
                while failures and failures[0] < now - self._window_s:
                    failures.popleft()
                self.restarts[task.name] += 1
                if len(failures) >= self._give_up_after:
                    log.critical("task %s failed again; the daemon will exit", task.name)
                    raise TaskFailed(task.name, len(failures), self._window_s) from exc
                log.exception("task %s failed; restarting it in %.1f s", task.name, delay)
            await asyncio.sleep(delay)
            delay = min(delay * 2, self._backoff_max_s)
