"""Log a repeated problem loudly once, then quietly, so a dead broker cannot flood journald."""

from __future__ import annotations

import logging


class QuietLog:
    def __init__(self, logger: logging.Logger) -> None:
        self._log = logger
        self._active: set[str] = set()

    def problem(self, key: str, message: str, *args: object) -> None:
        """Warn the first time `key` goes wrong; repeats go to debug."""
        level = logging.DEBUG if key in self._active else logging.WARNING
        self._active.add(key)
        self._log.log(level, message, *args)

    def resolved(self, key: str, message: str, *args: object) -> bool:
        """Say once that `key` works again (only if it had been reported); True if said."""
        if key not in self._active:
            return False
        self._active.discard(key)
        self._log.info(message, *args)
        return True
