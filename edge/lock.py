"""One process at a time per state dir: the daemon, or an `outbox drain`, never both."""

from __future__ import annotations

import fcntl
import os
from pathlib import Path
from typing import IO

from edge.errors import EdgeError


class StateBusy(EdgeError):
    """Another omo-edge process holds the state dir."""


class StateLock:
    def __init__(self, state_dir: Path, purpose: str) -> None:
        self.path = state_dir / "omo-edge.lock"
        self.purpose = purpose
        self._file: IO[str] | None = None

    def __enter__(self) -> StateLock:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        handle = self.path.open("a+")
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError as exc:
            handle.seek(0)
            holder = handle.read().strip() or "another process"
            handle.close()
            raise StateBusy(f"{holder} is using {self.path.parent}; stop it first") from exc
        handle.seek(0)
        handle.truncate()
        handle.write(f"omo-edge {self.purpose} (pid {os.getpid()})")
        handle.flush()
        self._file = handle
        return self

    def __exit__(self, *exc: object) -> None:
        if self._file is not None:
            self._file.close()
            self._file = None
