"""The SQLite outbox (sqlite-utils, WAL, synchronous=FULL).

An event is accepted once its transaction commits. Rows are grouped into
batches; a batch keeps its id and rows until central acknowledges it, so a
resend after a crash or outage is the same batch (PROTOCOL.md: at-least-once,
de-duplicated centrally by event id).
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import sqlite_utils

from edge.ids import new_id

# Numbered migrations: index = schema version after applying it. Append only.
MIGRATIONS: tuple[str, ...] = (
    """
    CREATE TABLE events (
        seq INTEGER PRIMARY KEY AUTOINCREMENT,
        id TEXT NOT NULL UNIQUE,
        type TEXT NOT NULL,
        ts INTEGER NOT NULL,
        body TEXT NOT NULL,
        size INTEGER NOT NULL,
        batch_id TEXT
    );
    CREATE INDEX events_batch_seq ON events (batch_id, seq);
    CREATE TABLE counters (name TEXT PRIMARY KEY, value INTEGER NOT NULL);
    """,
)


@dataclass(frozen=True, slots=True)
class Batch:
    """Events sent together; `payload` is the exact `P/events` JSON body."""

    batch_id: str
    event_ids: tuple[str, ...]
    payload: bytes


class Outbox:
    """The durable queue of events. Use as a context manager; one close path."""

    def __init__(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        self.path = path
        conn = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
        self.db = sqlite_utils.Database(conn)
        # WAL keeps readers (status) off the writer's back; FULL fsyncs the WAL on
        # every commit, so an accepted event survives a power cut, not just a crash.
        self.db.execute("PRAGMA journal_mode=WAL")
        self.db.execute("PRAGMA synchronous=FULL")
        self._migrate()

    def _migrate(self) -> None:
        version = int(self.db.execute("PRAGMA user_version").fetchone()[0])
        for number, script in enumerate(MIGRATIONS[version:], start=version + 1):
            with self.db.conn:
                self.db.conn.execute("BEGIN IMMEDIATE")
                for statement in filter(str.strip, script.split(";")):
                    self.db.conn.execute(statement)
                self.db.conn.execute(f"PRAGMA user_version={number}")

    def __enter__(self) -> Outbox:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        self.db.conn.close()

    def _bump(self, name: str, by: int) -> None:
        self.db.execute(
            "INSERT INTO counters(name, value) VALUES (?, ?) "
            "ON CONFLICT(name) DO UPDATE SET value = value + excluded.value",
            [name, by],
        )

    def append(self, events: Iterable[Mapping[str, Any]]) -> int:
        """Commit events (PROTOCOL.md Event objects) in one transaction; returns how many
        were new (an id already stored is not stored twice)."""
        rows = []
        for event in events:
            body = json.dumps(event, separators=(",", ":"), ensure_ascii=False)
            rows.append((event["id"], event["type"], event["ts"], body, len(body.encode())))
        if not rows:
            return 0
        with self.db.conn:
            self.db.conn.execute("BEGIN IMMEDIATE")
            added = self.db.conn.executemany(
                "INSERT OR IGNORE INTO events(id, type, ts, body, size) VALUES (?, ?, ?, ?, ?)",
                rows,
            ).rowcount
            self._bump("accepted_total", added)
        return int(added)

    def next_batch(self, device_id: str, max_events: int, max_bytes: int = 64_000) -> Batch | None:
        """The batch to send now: the unacknowledged one in flight, else a new one of the oldest."""
        rows = self.db.execute(
            "SELECT batch_id, id, body, size FROM events WHERE batch_id IS NOT NULL ORDER BY seq"
        ).fetchall()
        if rows:
            batch_id = rows[0][0]
            rows = [r for r in rows if r[0] == batch_id]
        else:
            batch_id = new_id()
            candidates = self.db.execute(
                "SELECT NULL, id, body, size FROM events"
                " WHERE batch_id IS NULL ORDER BY seq LIMIT ?",
                [max_events],
            ).fetchall()
            rows, total = [], 0
            for row in candidates:
                if rows and total + row[3] > max_bytes:
                    break
                rows.append(row)
                total += row[3]
            if not rows:
                return None
            with self.db.conn:
                self.db.conn.execute("BEGIN IMMEDIATE")
                self.db.conn.executemany(
                    "UPDATE events SET batch_id = ? WHERE id = ?", [(batch_id, r[1]) for r in rows]
                )
        payload = (
            '{"batch_id":'
            + json.dumps(batch_id)
            + ',"device_id":'
            + json.dumps(device_id)
            + ',"events":['
            + ",".join(r[2] for r in rows)
            + "]}"
        ).encode()
        return Batch(batch_id, tuple(r[1] for r in rows), payload)

    def ack(self, batch_id: str) -> int:
        """Central stored the batch: delete its rows. Returns how many left (0 if unknown)."""
        with self.db.conn:
            self.db.conn.execute("BEGIN IMMEDIATE")
            count = self.db.conn.execute(
                "DELETE FROM events WHERE batch_id = ?", [batch_id]
            ).rowcount
            if count:
                self._bump("acked_total", count)
        return int(count)

    def counter(self, name: str) -> int:
        row = self.db.execute("SELECT value FROM counters WHERE name = ?", [name]).fetchone()
        return int(row[0]) if row else 0

    def status(self) -> dict[str, Any]:
        """The `omo-edge outbox status --json` object."""
        pending, inflight, oldest = self.db.execute(
            "SELECT COUNT(*) FILTER (WHERE batch_id IS NULL),"
            " COUNT(*) FILTER (WHERE batch_id IS NOT NULL), MIN(ts) FROM events"
        ).fetchone()
        dropped = {
            name.removeprefix("dropped."): int(value)
            for name, value in self.db.execute(
                "SELECT name, value FROM counters WHERE name LIKE 'dropped.%' ORDER BY name"
            ).fetchall()
        }
        db_bytes = sum(
            p.stat().st_size for p in self.path.parent.glob(self.path.name + "*") if p.is_file()
        )
        return {
            "pending": int(pending),
            "inflight": int(inflight),
            "dropped": dropped,
            "acked_total": self.counter("acked_total"),
            "oldest_pending_ts": oldest,
            "db_bytes": db_bytes,
        }
