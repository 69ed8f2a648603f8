"""Log lines for a terminal or for journald, with MAC-shaped strings redacted.

Under systemd, stdout is a journald stream (`JOURNAL_STREAM` names it). journald
stamps its own time and reads a leading `<N>` as the syslog priority, so there a
line is `<6>edge.daemon: message key=value` and `journalctl -p warning` works.
In a terminal a line keeps its seconds-since-start clock.

No code path should log a Bluetooth address or a visitor id; the redacting filter
is a safety net for the one that slips through (an exception text, a library).
"""

from __future__ import annotations

import logging
import os
import re
import sys
import time
from collections.abc import Mapping
from typing import IO, Any

MAC = re.compile(r"(?<![0-9A-Fa-f])(?:[0-9A-Fa-f]{2}[:-]){5}[0-9A-Fa-f]{2}(?![0-9A-Fa-f])")
REDACTED = "[mac]"
NOISY = ("bleak", "asyncio", "paho")

# syslog priorities (sd-daemon.h): what journald reads from a `<N>` prefix.
_PRIORITY = {
    logging.DEBUG: 7,
    logging.INFO: 6,
    logging.WARNING: 4,
    logging.ERROR: 3,
    logging.CRITICAL: 2,
}


def redact(text: str) -> str:
    """`text` with every MAC-shaped string replaced by `[mac]`."""
    return MAC.sub(REDACTED, text)


def priority(levelno: int) -> int:
    """The syslog priority of a logging level (levels between round towards less severe)."""
    for level in sorted(_PRIORITY, reverse=True):
        if levelno >= level:
            return _PRIORITY[level]
    return 7


def context(fields: Mapping[str, object]) -> str:
    """` key=value ...` for a log line's context; values with spaces are quoted."""
    parts = []
    for key, value in fields.items():
        text = str(value)
        if not text or any(c.isspace() or c in '"=' for c in text):
            text = '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'
        parts.append(f"{key}={text}")
    return (" " + " ".join(parts)) if parts else ""


class Redact(logging.Filter):
    """Rewrites each record's message (and exception text) with MAC-shaped strings redacted."""

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        clean = redact(message)
        if clean != message:
            record.msg, record.args = clean, None
        if record.exc_info and not record.exc_text:
            record.exc_text = logging.Formatter().formatException(record.exc_info)
        if record.exc_text:
            record.exc_text = redact(record.exc_text)
        return True


class _Base(logging.Formatter):
    def body(self, record: logging.LogRecord) -> str:
        text = record.getMessage()
        fields = getattr(record, "kv", None)
        if isinstance(fields, Mapping):
            text += context(fields)
        if record.exc_text and record.levelno >= logging.ERROR:
            text += "\n" + record.exc_text
        return text


class JournalFormat(_Base):
    """`<N>logger: message key=value`: no time (journald has it), the priority kept."""

    def format(self, record: logging.LogRecord) -> str:
        prefix = f"<{priority(record.levelno)}>"
        # Every line of a multi-line record carries the prefix, or journald logs it as info.
        return "\n".join(
            prefix + (f"{record.name}: " if n == 0 else "  ") + line
            for n, line in enumerate(self.body(record).splitlines() or [""])
        )


class TerminalFormat(_Base):
    """Seconds since start, the level only when it is not info."""

    def __init__(self) -> None:
        super().__init__()
        self._start = time.monotonic()

    def format(self, record: logging.LogRecord) -> str:
        level = "" if record.levelno == logging.INFO else f"{record.levelname.lower()}: "
        return f"{time.monotonic() - self._start:7.1f}s  {level}{self.body(record)}"


def to_journal(stream: IO[str], environ: Mapping[str, str] | None = None) -> bool:
    """Whether `stream` is the journald stream systemd connected (JOURNAL_STREAM=dev:inode)."""
    env = os.environ if environ is None else environ
    dev, _, ino = env.get("JOURNAL_STREAM", "").partition(":")
    if not (dev.isdigit() and ino.isdigit()):
        return False
    try:
        st = os.fstat(stream.fileno())
    except (OSError, ValueError, AttributeError):
        return False
    return (st.st_dev, st.st_ino) == (int(dev), int(ino))


def setup(
    level: str, stream: IO[str] | None = None, environ: Mapping[str, str] | None = None
) -> None:
    """One handler on the root logger: journald or terminal format, redaction always on."""
    out: IO[str] = sys.stdout if stream is None else stream
    handler = logging.StreamHandler(out)
    handler.setFormatter(JournalFormat() if to_journal(out, environ) else TerminalFormat())
    handler.addFilter(Redact())
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level.upper())
    for noisy in NOISY:
        logging.getLogger(noisy).setLevel(logging.WARNING)


def kv(**fields: Any) -> dict[str, Any]:
    """`extra=` for a log call whose context should appear as key=value."""
    return {"kv": fields}
