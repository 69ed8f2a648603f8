"""The outbox's row and byte budgets: over budget, low-value kinds go first (`visit.dwell`,
`device.health`), then the oldest of any kind; never an event of a batch that may have
been sent.

Runs inside the write transaction that went over; every drop is counted by type
(`dropped.{type}`) in the same transaction. The choice of how many to drop is pure.
"""

from __future__ import annotations

import sqlite3
from collections import Counter
from collections.abc import Collection

from edge.outbox.packing import LOW_VALUE
from edge.outbox.rows import count_drops, replace_batch, stored, totals

Victim = tuple[int, str, int]  # place in its batch, type, size


def over(rows: int, size: int, max_rows: int, max_bytes: int) -> bool:
    """Are `rows` events of `size` bytes over the budget (0: no limit)?"""
    return bool((max_rows and rows > max_rows) or (max_bytes and size > max_bytes))


def just_enough(
    victims: list[Victim], rows: int, size: int, max_rows: int, max_bytes: int
) -> list[Victim]:
    """The fewest of `victims` (in order) whose removal brings `rows`/`size` within budget."""
    chosen = []
    for victim in victims:
        if not over(rows, size, max_rows, max_bytes):
            break
        chosen.append(victim)
        rows, size = rows - 1, size - victim[2]
    return chosen


def enforce(conn: sqlite3.Connection, max_rows: int, max_bytes: int, sent: Collection[str]) -> None:
    """Inside a write transaction: drop low-value, then oldest, until within budget."""
    for kinds in (LOW_VALUE, None):
        if not over(*totals(conn), max_rows, max_bytes):
            return
        for batch in stored(conn, sent, "low_value > 0" if kinds else "1", unsent_only=True):
            victims = [
                (i, e["type"], len(t.encode()))
                for i, (t, e) in enumerate(zip(batch.texts, batch.events, strict=True))
                if kinds is None or e["type"] in kinds
            ]
            chosen = just_enough(victims, *totals(conn), max_rows, max_bytes)
            if chosen:
                gone = {i for i, _kind, _size in chosen}
                replace_batch(
                    conn, batch.seq, [t for i, t in enumerate(batch.texts) if i not in gone]
                )
                count_drops(conn, Counter(kind for _i, kind, _size in chosen))
            if not over(*totals(conn), max_rows, max_bytes):
                return
