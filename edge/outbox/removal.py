"""Events leaving the outbox other than by acknowledgement: expiry by age, and a
visitor's purge (docs/data-protection.md).

Each runs inside the caller's write transaction. A batch that may have been sent
(`offered` on disk, or `sent` in this process) is never resent with different
events: expiry takes it only whole, and a purge dissolves it (its other events go
again under a new batch id).
"""

from __future__ import annotations

import sqlite3
from collections import Counter
from collections.abc import Collection, Iterable
from dataclasses import dataclass

from edge.outbox.rows import bump, count_drops, replace_batch, stored


@dataclass(frozen=True, slots=True)
class Purged:
    """What `purge_visitor` removed: events, the check-in nonces they named, and how many
    other events left a batch that may have been sent (they go again in a new batch)."""

    events: int
    nonces: tuple[str, ...]
    released: int


def expire(conn: sqlite3.Connection, before_ts: int, sent: Collection[str]) -> dict[str, int]:
    """Delete events stamped by a synchronised clock before `before_ts` (ms), counted as
    drops by type and in `expired_total`; returns the drops by type."""
    dropped: Counter[str] = Counter()
    for batch in stored(conn, sent, "first_ts < ?", [before_ts]):
        old = [e.get("clock_synced") is True and e["ts"] < before_ts for e in batch.events]
        if not any(old) or (batch.sent and not all(old)):
            continue
        dropped.update(e["type"] for e, gone in zip(batch.events, old, strict=True) if gone)
        kept = [t for t, gone in zip(batch.texts, old, strict=True) if not gone]
        replace_batch(conn, batch.seq, kept)
    count_drops(conn, dropped)
    if dropped:
        bump(conn, "expired_total", sum(dropped.values()))
    return dict(dropped)


def purge_visitor(conn: sqlite3.Connection, forms: Iterable[str], sent: Collection[str]) -> Purged:
    """Delete every event naming any of `forms` (a visitor's id and its pseudonyms),
    wherever it is, dissolving the batches that may have been sent and held one."""
    names = set(forms)
    purged = released = 0
    nonces: list[str] = []
    for batch in stored(conn, sent):
        hit = [e.get("visitor") in names for e in batch.events]
        if not any(hit):
            continue
        kept = [t for t, gone in zip(batch.texts, hit, strict=True) if not gone]
        purged += len(batch.texts) - len(kept)
        nonces += [
            e["nonce"]
            for e, gone in zip(batch.events, hit, strict=True)
            if gone and isinstance(e.get("nonce"), str)
        ]
        if batch.sent:
            released += len(kept)
        replace_batch(conn, batch.seq, kept)
    if purged:
        bump(conn, "purged_total", purged)
    return Purged(purged, tuple(nonces), released)
