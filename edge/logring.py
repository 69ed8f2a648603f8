"""The daemon's recent log lines in memory, for the `logs` command (`P/cmd`).

Ops should not need SSH to read a device's log. A handler on the root logger keeps
the last `LINES_KEPT` lines, formatted and redacted exactly as they go to journald
or the terminal (edge/logs.py: MAC-shaped strings become `[mac]`), each with its
UTC time. Nothing is written to disk: the journal already has them, and this is
only what the daemon itself said since it started.

`select` and `split` are pure: which lines a request gets, and how they are cut
into results small enough for MQTT (at most `PART_BYTES` of text each, at most
`TOTAL_BYTES` in all: the newest lines are kept when a request asks for more).
"""

from __future__ import annotations

import logging
import threading
import time
from collections import deque
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from edge.logs import Redact, TerminalFormat

LINES_KEPT = 5_000
LINE_MAX_CHARS = 2_000
PART_BYTES = 48 * 1024
TOTAL_BYTES = 512 * 1024


@dataclass(frozen=True, slots=True)
class Line:
    ts_ms: int
    text: str


class _Format(TerminalFormat):
    """`2026-12-03T12:00:00.123Z level logger: message key=value` (level left out at info)."""

    def format(self, record: logging.LogRecord) -> str:
        stamp = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(record.created))
        level = "" if record.levelno == logging.INFO else f"{record.levelname.lower()} "
        millis = int(record.msecs)
        return f"{stamp}.{millis:03d}Z {level}{record.name}: {self.body(record)}"


class LogRing(logging.Handler):
    """The last `kept` log lines of this process, redacted; thread-safe."""

    def __init__(self, kept: int = LINES_KEPT) -> None:
        super().__init__()
        self.setFormatter(_Format())
        self.addFilter(Redact())
        self._lines: deque[Line] = deque(maxlen=kept)
        self._guard = threading.Lock()

    def emit(self, record: logging.LogRecord) -> None:
        try:
            text = self.format(record)
        except Exception:  # a broken log call must not break logging
            self.handleError(record)
            return
        line = Line(int(record.created * 1000), text)
        with self._guard:
            self._lines.append(line)

    def snapshot(self) -> list[Line]:
        with self._guard:
            return list(self._lines)

    def install(self) -> None:
        logging.getLogger().addHandler(self)

    def remove(self) -> None:
        logging.getLogger().removeHandler(self)


def select(lines: Iterable[Line], count: int, since_ms: int = 0) -> list[str]:
    """The newest `count` lines at or after `since_ms`, oldest first, each cut to
    LINE_MAX_CHARS, and no more than TOTAL_BYTES in all (newest kept)."""
    chosen = [line.text for line in lines if line.ts_ms >= since_ms][-count:] if count else []
    out: list[str] = []
    total = 0
    for whole in reversed(chosen):
        text = whole if len(whole) <= LINE_MAX_CHARS else whole[: LINE_MAX_CHARS - 1] + "…"
        size = len(text.encode()) + 1
        if total + size > TOTAL_BYTES:
            break
        out.append(text)
        total += size
    out.reverse()
    return out


def split(lines: Sequence[str], part_bytes: int = PART_BYTES) -> list[list[str]]:
    """`lines` in order, cut into parts of at most `part_bytes` (UTF-8, a newline each);
    never an empty part, always at least one (possibly empty) list."""
    parts: list[list[str]] = [[]]
    size = 0
    for text in lines:
        n = len(text.encode()) + 1
        if parts[-1] and size + n > part_bytes:
            parts.append([])
            size = 0
        parts[-1].append(text)
        size += n
    return parts
