"""The outbox on a thread of its own, for the daemon's event loop.

Every SQLite call of the daemon, and the fsync of every commit, runs on one
dedicated thread: the asyncio loop that owns MQTT and the 800 ms decide
deadline only awaits the result. One thread, so calls run in the order they
were made and the connection is only ever used by the thread that opened it.
Commands and tools that run alone (`omo-edge outbox status`, tests) use
`Outbox` directly.
"""

from __future__ import annotations

import asyncio
import functools
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from types import TracebackType
from typing import Concatenate, ParamSpec, TypeVar

from edge.config import Config
from edge.outbox.store import Outbox

T = TypeVar("T")
P = ParamSpec("P")


class OutboxThread:
    """`async with OutboxThread(path) as box: n = await box.run(Outbox.pending)`."""

    def __init__(self, path: Path, **outbox: int) -> None:
        """`outbox`: the `Outbox`'s budgets and batch sizes (its keyword arguments)."""
        self.path = path
        self._open = functools.partial(Outbox, path, **outbox)
        self._pool = ThreadPoolExecutor(1, thread_name_prefix="edge-outbox")
        self._outbox: Outbox | None = None

    @classmethod
    def for_config(cls, cfg: Config) -> OutboxThread:
        """The daemon's outbox: its path and budgets from `[storage]`, batches `[sync]`."""
        return cls(
            cfg.outbox_path,
            max_rows=cfg.storage.max_events,
            max_bytes=cfg.storage.max_bytes,
            batch_max_events=cfg.sync.batch_max_events,
            batch_max_bytes=cfg.sync.batch_max_bytes,
        )

    async def __aenter__(self) -> OutboxThread:
        loop = asyncio.get_running_loop()
        self._outbox = await loop.run_in_executor(self._pool, self._open)
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        outbox, self._outbox = self._outbox, None
        if outbox is not None:
            await asyncio.get_running_loop().run_in_executor(self._pool, outbox.close)
        self._pool.shutdown(wait=True)

    @property
    def recovered_from(self) -> Path | None:
        """A corrupt outbox file moved aside when it was opened (see Outbox)."""
        return self._outbox.recovered_from if self._outbox is not None else None

    async def run(
        self, fn: Callable[Concatenate[Outbox, P], T], *args: P.args, **kwargs: P.kwargs
    ) -> T:
        """`fn(outbox, *args, **kwargs)` on the outbox thread, e.g. `run(Outbox.pending)`.

        A cancelled caller does not stop a started call: a commit that began is
        finished (and counted) whether or not anyone still waits for it.
        """
        outbox = self._outbox
        if outbox is None:
            raise RuntimeError("the outbox is not open")
        call = functools.partial(fn, outbox, *args, **kwargs)
        return await asyncio.get_running_loop().run_in_executor(self._pool, call)
