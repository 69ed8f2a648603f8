"""The one wait helper: poll a condition, never sleep a fixed time and hope."""

from __future__ import annotations

import time
from collections.abc import Callable


def wait_for(check: Callable[[], bool], seconds: float) -> bool:
    """Poll `check` until it holds (True) or `seconds` pass (False): `assert wait_for(...)`."""
    deadline = time.monotonic() + seconds
    while not check():
        if time.monotonic() > deadline:
            return False
        time.sleep(0.02)
    return True
