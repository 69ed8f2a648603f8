"""Record what a live scan hears as a trace (docs/traces.md) without keeping a single MAC address.

Every address is replaced by a keyed hash, written as `h:` + 16 hex digits:
the first 64 bits of HMAC-SHA256(key, address in upper case). The key is 32
random bytes from `secrets`, fresh for each recording and held only in memory:
it is never written anywhere, not even to logs. So within one recording a
device keeps one token (the trace can still be followed device by device,
and replays the same), while nothing links a token to the address, nor one
recording's tokens to another's.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from pathlib import Path
from types import TracebackType
from typing import TextIO

from edge.presence.advert import Advert
from edge.presence.trace import format_advert

PSEUDONYM_PREFIX = "h:"
PSEUDONYM_HEX_DIGITS = 16


class TraceRecorder:
    """Writes adverts to a trace file, one line each, addresses pseudonymised; a context manager."""

    def __init__(self, path: Path) -> None:
        """Create (or truncate) `path` and draw this recording's key."""
        self.path = path
        self.lines = 0
        self._key = secrets.token_bytes(32)
        self._out: TextIO = path.open("w", encoding="utf-8")

    def __repr__(self) -> str:  # never show the key
        return f"TraceRecorder({str(self.path)!r}, lines={self.lines})"

    def pseudonym(self, address: str) -> str:
        """`address` as this recording's token: "h:" + 16 hex digits of an HMAC-SHA256."""
        digest = hmac.new(self._key, address.upper().encode(), hashlib.sha256).hexdigest()
        return PSEUDONYM_PREFIX + digest[:PSEUDONYM_HEX_DIGITS]

    def write(self, advert: Advert) -> None:
        """Append one trace line; `advert.t` must already be seconds since the recording began."""
        self._out.write(format_advert(advert, self.pseudonym(advert.address)) + "\n")
        self.lines += 1

    def flush(self) -> None:
        self._out.flush()

    def close(self) -> None:
        self._out.close()

    def __enter__(self) -> TraceRecorder:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()
