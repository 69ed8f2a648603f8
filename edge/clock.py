"""Is the system clock synchronised? (A Pi has no RTC; events say whether to trust `ts`.)"""

from __future__ import annotations

import ctypes
import ctypes.util

STA_UNSYNC = 0x0040
TIME_ERROR = 5


class _Timex(ctypes.Structure):
    # struct timex from <sys/timex.h>: enough leading fields plus padding for the rest.
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


def clock_synced() -> bool:
    """True when the kernel says NTP (or chrony, timesyncd) has the clock in sync."""
    name = ctypes.util.find_library("c")
    if name is None:
        return False
    try:
        libc = ctypes.CDLL(name, use_errno=True)
        timex = _Timex()
        state = libc.adjtimex(ctypes.byref(timex))
    except (OSError, AttributeError):
        return False
    return bool(state != TIME_ERROR and not timex.status & STA_UNSYNC)
