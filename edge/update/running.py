"""`running.json` in the state dir: which version has content on screen (the health signal
the update apply step waits for before it keeps a new version)."""

from __future__ import annotations

import asyncio
import json
import os
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from edge.files import write_atomic

FILE = "running.json"


def report(state_dir: Path, version: str) -> None:
    body = {"version": version, "pid": os.getpid(), "ts": time.time()}
    write_atomic(state_dir / FILE, json.dumps(body).encode(), mode=0o644)


def read(state_dir: Path) -> dict[str, Any] | None:
    try:
        body = json.loads((state_dir / FILE).read_text())
    except (OSError, ValueError):
        return None
    return body if isinstance(body, dict) else None


def healthy(body: dict[str, Any] | None, version: str, since: float) -> bool:
    """Whether `body` says `version` put content on screen at or after `since` (epoch s)."""
    if body is None:
        return False
    ts = body.get("ts")
    return body.get("version") == version and isinstance(ts, int | float) and ts >= since


async def announce(state_dir: Path, version: str, on_screen: Callable[[], bool]) -> None:
    """Write running.json once the first frame is on screen (the daemon's I/O loop runs it)."""
    while not on_screen():
        await asyncio.sleep(0.1)
    await asyncio.to_thread(report, state_dir, version)
