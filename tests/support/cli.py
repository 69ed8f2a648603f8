"""The two commands as processes, as people run them: `omo_edge(...)` on a device,
`ops(...)` (`omo-ops`) on an ops laptop or a central team's machine."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Mapping


def _command(
    module: str, args: tuple[str, ...], timeout_s: float, env: Mapping[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", module, *args],
        capture_output=True,
        text=True,
        timeout=timeout_s,
        check=False,
        stdin=subprocess.DEVNULL,
        env=None if env is None else {**os.environ, **env},
    )


def omo_edge(*args: str, timeout_s: float = 120) -> subprocess.CompletedProcess[str]:
    """`omo-edge ARGS`: its exit code, stdout and stderr (nothing on stdin)."""
    return _command("edge.cli", args, timeout_s)


def ops(*args: str, timeout_s: float = 60) -> subprocess.CompletedProcess[str]:
    """`omo-ops ARGS`: its exit code, stdout and stderr (nothing on stdin; the dummy SDL
    drivers for the commands that paint, such as `content preview`)."""
    return _command(
        "edge.ops.cli", args, timeout_s, {"SDL_VIDEODRIVER": "dummy", "SDL_AUDIODRIVER": "dummy"}
    )
