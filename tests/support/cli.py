"""`omo-ops` as a process, as an ops laptop or a central team's machine runs it."""

from __future__ import annotations

import os
import subprocess
import sys


def ops(*args: str, timeout_s: float = 60) -> subprocess.CompletedProcess[str]:
    """`omo-ops ARGS`: its exit code, stdout and stderr (nothing on stdin; the dummy SDL
    drivers for the commands that paint, such as `content preview`)."""
    return subprocess.run(
        [sys.executable, "-m", "edge.ops.cli", *args],
        capture_output=True,
        text=True,
        timeout=timeout_s,
        check=False,
        stdin=subprocess.DEVNULL,
        env={**os.environ, "SDL_VIDEODRIVER": "dummy", "SDL_AUDIODRIVER": "dummy"},
    )
