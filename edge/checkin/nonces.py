"""Check-in QR nonces (docs/protocol.md "Check-in QR"): pure, `now` passed in.

The screen shows `qr_url(base_url, device_id, book.current(now))`. A nonce is
96 random bits as unpadded base64url, accepted once within `accept_s` of
being issued. The shown nonce is replaced as soon as it is used and after
`rotate_s` at the latest, so a queue of shoppers is served one after another
while an older, still unused nonce (a phone that was slow to post) keeps
working until its own `accept_s` runs out.

`now` is monotonic seconds (`time.monotonic()`), never the wall clock: nonce
ages must not jump when NTP first sets the clock of a Pi without an RTC.

Memory is bounded: an issued nonce is remembered for `accept_s` plus
`remember_s` (so a late scan is told "expired" rather than "unknown"), and
never more than `max_kept` at once; past either limit the oldest is
forgotten and a check-in with it is "unknown" (still refused: nonces are
never issued twice).
"""

from __future__ import annotations

import base64
import secrets
from collections import OrderedDict
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Literal, get_args
from urllib.parse import quote, urlsplit

Verdict = Literal["ok", "unknown", "expired", "reused"]
VERDICTS: tuple[Verdict, ...] = get_args(Verdict)

MIN_BITS = 64


@dataclass
class _Issued:
    at: float
    used: bool = False


class NonceBook:
    """The nonces one screen has shown, and which of them were used."""

    def __init__(
        self,
        *,
        accept_s: float = 120.0,
        rotate_s: float = 60.0,
        bits: int = 96,
        random_bytes: Callable[[int], bytes] = secrets.token_bytes,
        remember_s: float | None = None,
        max_kept: int = 4096,
    ) -> None:
        if bits < MIN_BITS or bits % 8:
            raise ValueError(f"bits must be a multiple of 8 and at least {MIN_BITS}, not {bits}")
        if not accept_s > 0:
            raise ValueError(f"accept_s must be positive, not {accept_s}")
        if not 0 < rotate_s <= accept_s:
            raise ValueError(f"rotate_s must be in (0, accept_s={accept_s}], not {rotate_s}")
        if max_kept < 2:
            raise ValueError(f"max_kept must be at least 2, not {max_kept}")
        self.accept_s = float(accept_s)
        self.rotate_s = float(rotate_s)
        self.remember_s = self.accept_s if remember_s is None else float(remember_s)
        if self.remember_s < 0:
            raise ValueError(f"remember_s must not be negative, not {remember_s}")
        self.max_kept = max_kept
        self._nbytes = bits // 8
        self._random_bytes = random_bytes
        self._issued: OrderedDict[str, _Issued] = OrderedDict()  # oldest first
        self._shown: str | None = None
        self._counts: dict[Verdict, int] = dict.fromkeys(VERDICTS, 0)
        self.version = 0
        """Incremented whenever `current` starts showing a new nonce: redraw the QR."""

    # the screen ------------------------------------------------------------------
    def current(self, now: float) -> str:
        """The nonce to show now; a new one if none is shown, it was used, or it is old."""
        self._forget(now)
        shown = self._issued.get(self._shown) if self._shown is not None else None
        if shown is None or shown.used or now >= shown.at + self.rotate_s:
            return self._issue(now)
        assert self._shown is not None
        return self._shown

    def rotates_at(self) -> float | None:
        """When (monotonic s) the shown nonce is due to be replaced, or None if none is shown.

        It is also replaced as soon as it is used; watch `version` for that.
        """
        shown = self._issued.get(self._shown) if self._shown is not None else None
        return None if shown is None else shown.at + self.rotate_s

    # a check-in ------------------------------------------------------------------
    def use(self, nonce: str, now: float) -> Verdict:
        """Spend `nonce` (untrusted input): "ok" exactly once within accept_s of its issue."""
        self._forget(now)
        entry = self._issued.get(nonce)
        verdict: Verdict
        if entry is None:
            verdict = "unknown"
        elif entry.used:
            verdict = "reused"
        elif now > entry.at + self.accept_s:
            verdict = "expired"
        else:
            entry.used = True
            verdict = "ok"
        self._counts[verdict] += 1
        return verdict

    # surviving a restart ----------------------------------------------------------
    def snapshot(self, now: float) -> list[tuple[str, float, bool]]:
        """(nonce, age in s, used) of every remembered nonce, oldest first: a check-in
        scanned just before a crash or restart must still be recognised after it."""
        self._forget(now)
        return [(nonce, now - entry.at, entry.used) for nonce, entry in self._issued.items()]

    def restore(self, entries: list[tuple[str, float, bool]], now: float) -> None:
        """Take back a snapshot (ages may come from a wall clock: negative ones count as 0)."""
        for nonce, age, used in entries:
            if nonce not in self._issued:
                self._issued[nonce] = _Issued(now - max(0.0, age), used)
        self._forget(now)

    def discard(self, nonces: Iterable[str]) -> int:
        """Forget these nonces (a purged visitor's); a check-in with one is then "unknown",
        still refused. Returns how many were remembered."""
        gone = 0
        for nonce in nonces:
            if self._issued.pop(nonce, None) is not None:
                gone += 1
        return gone

    def counts(self) -> dict[Verdict, int]:
        """How many check-ins got each verdict so far."""
        return dict(self._counts)

    def __len__(self) -> int:
        """Nonces remembered right now (bounded by max_kept)."""
        return len(self._issued)

    # inside ----------------------------------------------------------------------
    def _issue(self, now: float) -> str:
        raw = self._random_bytes(self._nbytes)
        if len(raw) != self._nbytes:
            raise ValueError(f"random_bytes gave {len(raw)} bytes, wanted {self._nbytes}")
        nonce = base64.urlsafe_b64encode(raw).rstrip(b"=").decode("ascii")
        if nonce in self._issued:  # only a broken random source repeats 96 bits
            raise ValueError("random_bytes repeated a nonce")
        self._issued[nonce] = _Issued(now)
        self._shown = nonce
        self.version += 1
        while len(self._issued) > self.max_kept:
            self._issued.popitem(last=False)
        return nonce

    def _forget(self, now: float) -> None:
        """Drop nonces past acceptance plus the remembering time (oldest are first)."""
        horizon = self.accept_s + self.remember_s
        while self._issued:
            oldest = next(iter(self._issued.values()))
            if now <= oldest.at + horizon:
                break
            self._issued.popitem(last=False)


def qr_url(base_url: str, device_id: str, nonce: str) -> str:
    """`{base_url}?d={device_id}&n={nonce}`, each value percent-encoded.

    A base URL that already has a query gets `&d=…&n=…` appended to it; one
    with a fragment is refused (the parameters would end up inside it).
    """
    parts = urlsplit(base_url)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise ValueError(f"check-in base URL {base_url!r} is not an absolute http(s) URL")
    if "#" in base_url:
        raise ValueError(f"check-in base URL {base_url!r} has a fragment")
    query = f"d={quote(device_id, safe='')}&n={quote(nonce, safe='')}"
    if "?" not in base_url:
        return f"{base_url}?{query}"
    ready = base_url.endswith("&") or (base_url.endswith("?") and not parts.query)
    return f"{base_url}{query}" if ready else f"{base_url}&{query}"
