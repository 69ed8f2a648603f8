"""`omo-ops central-sim` as its own process, for the benchmarks that sync to it."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any


@contextmanager
def central_sim(port: int) -> Iterator[dict[str, Any]]:
    """Run the simulator on the broker at `port` (its own process, as central is in the
    field); on leaving, the dict yielded holds its final totals (events, duplicates, ...)."""
    totals: dict[str, Any] = {}
    proc = subprocess.Popen(
        [sys.executable, "-m", "edge.ops.cli", "central-sim", "--port", str(port)],
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
    )
    try:
        time.sleep(1.0)  # subscribed before the daemon starts
        yield totals
    finally:
        proc.terminate()
        out, _ = proc.communicate(timeout=60)
        if out.strip():
            totals.update(json.loads(out.strip().splitlines()[-1]))
