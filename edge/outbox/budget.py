"""The outbox's row and byte budgets: over budget, low-value kinds go first (`visit.dwell`,
`device.health`), then the oldest of any kind; never an event of a batch in flight.

Runs inside the write transaction that went over; every drop is counted by type
(`dropped.{type}`) in the same transaction. The choice of how many to drop is pure.
"""

from __future__ import annotations

import sqlite3

from edge.outbox.schema import UNBATCHED, bump, forget_rows, totals

LOW_VALUE = ("visit.dwell", "device.health")
DROP_CHUNK = 500  # rows looked at per query, so a huge backlog is never read at once

Victim = tuple[int, str, int]  # seq, type, size


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


def enforce(conn: sqlite3.Connection, max_rows: int, max_bytes: int) -> None:
    """Inside a write transaction: drop low-value, then oldest, until within budget."""
    for kinds in (LOW_VALUE, None):
        while over(*totals(conn), max_rows, max_bytes):
            if kinds is None:
                victims = conn.execute(
                    f"SELECT seq, type, size FROM events WHERE {UNBATCHED} ORDER BY seq LIMIT ?",
                    [DROP_CHUNK],
                ).fetchall()
            else:
                victims = conn.execute(
                    f"SELECT seq, type, size FROM events WHERE {UNBATCHED}"
                    f" AND type IN ({','.join('?' * len(kinds))}) ORDER BY seq LIMIT ?",
                    [*kinds, DROP_CHUNK],
                ).fetchall()
            if not victims:
                break
            victims = just_enough(victims, *totals(conn), max_rows, max_bytes)
            for kind, count in forget_rows(conn, victims).items():
                bump(conn, f"dropped.{kind}", count)
