"""What the `omo-ops` commands share: argument types (a value that makes no sense is refused
by argparse, exit 2 naming the flag, before anything connects or is written) and progress
lines on standard error (standard output is for results)."""

from __future__ import annotations

import argparse
import re
import sys
import time

_DURATION = re.compile(r"(\d+(?:\.\d+)?)\s*(s|m|min|h|d|w)?")
_UNITS = {None: 1, "s": 1, "m": 60, "min": 60, "h": 3600, "d": 86400, "w": 7 * 86400}
_SIZE = re.compile(r"(\d{1,5})x(\d{1,5})")


def duration_s(text: str) -> float:
    """`30d`, `12h`, `90m`, `45s` or plain seconds; above 0."""
    found = _DURATION.fullmatch(text.strip().lower())
    seconds = float(found[1]) * _UNITS[found[2]] if found else 0.0
    if seconds <= 0:
        raise argparse.ArgumentTypeError(
            f"give a duration such as 30d, 12h, 90m or 45s, not {text!r}"
        )
    return seconds


def screen_size(text: str) -> tuple[int, int]:
    """`WxH` in pixels, as a screen's `[display] width` and `height` allow (1-7680 x 1-4320)."""
    found = _SIZE.fullmatch(text.strip().lower())
    if found is None or not (0 < int(found[1]) <= 7680 and 0 < int(found[2]) <= 4320):
        raise argparse.ArgumentTypeError(
            f"give WIDTHxHEIGHT in pixels, e.g. 1920x1080 (at most 7680x4320), not {text!r}"
        )
    return int(found[1]), int(found[2])


def rotation(text: str) -> int:
    """0, 90, 180 or 270: how the panel is hung, as `[display] rotation`."""
    if text.strip() not in ("0", "90", "180", "270"):
        raise argparse.ArgumentTypeError(f"give 0, 90, 180 or 270, not {text!r}")
    return int(text)


def topic_word(text: str) -> str:
    """A store or device id as it appears in a topic: no `/`, `+` or `#`, 1-64 characters."""
    if not 0 < len(text) <= 64 or any(c in text for c in "/+#") or text == "_store":
        raise argparse.ArgumentTypeError(
            f"give an id of 1-64 characters without '/', '+' or '#', not {text!r}"
        )
    return text


def manifest_version(text: str) -> int:
    """A manifest version: an integer 1 to 2**53 (it only ever goes up, per scope)."""
    if not text.isdigit() or not 0 < int(text) <= 2**53:
        raise argparse.ArgumentTypeError(f"give a whole number from 1 to 2**53, not {text!r}")
    return int(text)


def say(line: str) -> None:
    """A progress line on standard error, timed."""
    print(f"{time.strftime('%H:%M:%S')}  {line}", file=sys.stderr, flush=True)
