"""Is the system clock synchronised? (A Pi has no RTC; events say whether to trust `ts`.)"""

from __future__ import annotations

import ctypes
import ctypes.util
import functools
import time

# 2026-11-01T00:00:00Z: no true time is before this release. Before the clock is
# synchronised it is the only time we can trust: whatever expired before it has expired.
TIME_FLOOR_MS = 1_793_491_200_000
STA_UNSYNC = 0x0040
TIME_ERROR = 5
RECHECK_S = 5.0


class _Timex(ctypes.Structure):
    # struct timex from <sys/timex.h>: the leading fields, then room for the rest.
    _fields_ = [
        ("modes", ctypes.c_uint),
        ("offset", ctypes.c_long),
        ("freq", ctypes.c_long),
        ("maxerror", ctypes.c_long),
        ("esterror", ctypes.c_long),
        ("status", ctypes.c_int),
        ("constant", ctypes.c_long),
        ("precision", ctypes.c_long),
        ("tolerance", ctypes.c_long),
        ("time_sec", ctypes.c_long),
        ("time_usec", ctypes.c_long),
        ("tick", ctypes.c_long),
        ("padding", ctypes.c_byte * 256),
    ]


@functools.cache
def _libc() -> ctypes.CDLL | None:
    # find_library may run ldconfig: once per process, never per event.
    name = ctypes.util.find_library("c")
    try:
        return ctypes.CDLL(name, use_errno=True) if name else None
    except OSError:
        return None


def _ask_kernel() -> bool:
    libc = _libc()
    if libc is None:
        return False
    timex = _Timex()
    try:
        state = libc.adjtimex(ctypes.byref(timex))
    except (OSError, AttributeError):
        return False
    return bool(state != TIME_ERROR and not timex.status & STA_UNSYNC)


_cache: tuple[float, bool] = (-RECHECK_S, False)


def trusted_now_ms(now_ms: int, synced: bool) -> int:
    """`now_ms` when the clock is synchronised, else the latest time we know has passed."""
    return now_ms if synced else TIME_FLOOR_MS


def clock_synced() -> bool:
    """True when the kernel says NTP (chrony, timesyncd) keeps the clock in sync.

    Asked at most every few seconds: it is stamped on every event.
    """
    global _cache  # noqa: PLW0603 - a process-wide memo of a process-wide fact
    checked, synced = _cache
    now = time.monotonic()
    if now - checked >= RECHECK_S:
        synced = _ask_kernel()
        _cache = (now, synced)
    return synced
