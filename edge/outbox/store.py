"""The SQLite outbox (sqlite-utils, WAL, synchronous=FULL).

An event is accepted once its transaction commits. Rows are grouped into
batches; a batch keeps its id and rows until central acknowledges it, so a
resend after a crash or outage is the same batch (docs/protocol.md: at-least-once,
de-duplicated centrally by event id).

Why synchronous=FULL: in WAL mode NORMAL syncs only at checkpoints, so a
power cut (a Pi's everyday failure) can lose the last transactions even
though they were committed; FULL fsyncs the WAL on every commit. The cost is
one fsync per transaction, which is why the daemon groups its own events
into short transactions (edge/outbox/writer.py).

Bounds: a row and a byte budget (budget.py). Over budget, low-value kinds go
first (`visit.dwell`, `device.health`), then the oldest of any kind; never a
batch in flight. Every drop is counted by type in a persistent counter.

Privacy (docs/data-protection.md): `secure_delete` is on, so a deleted event
(acknowledged, expired, purged) is overwritten with zeros rather than left
in free pages; `expire` bounds how long an unsent event is kept; and
`purge_visitor` removes a visitor's events, then truncates the WAL so no old
page copy of them survives there (removal.py).

This module is the `Outbox` itself: transactions, batches, acknowledgements,
remembered commands and status; schema.py opens and migrates the file.
"""

from __future__ import annotations

import contextlib
import json
import logging
import sqlite3
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from edge.errors import EdgeError
from edge.ids import new_id
from edge.outbox import budget, clockfix, removal
from edge.outbox.budget import DROP_CHUNK, LOW_VALUE
from edge.outbox.removal import Purged
from edge.outbox.schema import (
    MIGRATIONS,
    UNBATCHED,
    bump,
    is_corrupt,
    move_aside,
    open_database,
    totals,
)

__all__ = [
    "COMMAND_MARGIN_MS",
    "DROP_CHUNK",
    "LOW_VALUE",
    "MIGRATIONS",
    "SEEN_COMMANDS_KEPT",
    "Batch",
    "Outbox",
    "Purged",
    "StorageError",
]

log = logging.getLogger(__name__)


SEEN_COMMANDS_KEPT = 10_000
COMMAND_MARGIN_MS = 24 * 3_600_000  # a cmd_id is remembered this long past its expiry


class StorageError(EdgeError):
    """The outbox cannot write (disk full, read-only file system, I/O error)."""


@dataclass(frozen=True, slots=True)
class Batch:
    """Events sent together; `payload` is the exact `P/events` JSON body."""

    batch_id: str
    event_ids: tuple[str, ...]
    payload: bytes


@contextlib.contextmanager
def _storage_errors() -> Iterator[None]:
    """sqlite3's write failures as one StorageError a caller can retry on."""
    try:
        yield
    except sqlite3.DatabaseError as exc:  # full, read-only, I/O error, corruption found late
        raise StorageError(f"outbox cannot write: {exc}") from exc


@contextlib.contextmanager
def _unsynced(conn: sqlite3.Connection) -> Iterator[None]:
    """A transaction committed without its own fsync (synchronous=NORMAL): for what a power
    cut may undo harmlessly. A lost batch mark means the same events go again under a new
    batch id after the reboot, and a lost ack that central acknowledges the resent batch
    again (it de-duplicates by event id); no accepted event depends on it. A process crash
    loses nothing (the page cache keeps it), and the next FULL commit's fsync or the
    kernel's writeback carries it to the card with other writes (SD card wear)."""
    conn.execute("PRAGMA synchronous=NORMAL")
    try:
        yield
    finally:
        conn.execute("PRAGMA synchronous=FULL")


class Outbox:
    """The durable queue of events. Use as a context manager; one close path."""

    def __init__(self, path: Path, max_rows: int = 0, max_bytes: int = 0) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        self.path = path
        self.max_rows, self.max_bytes = max_rows, max_bytes
        self.recovered_from: Path | None = None
        try:
            self.db = open_database(path)
        except sqlite3.DatabaseError as exc:
            if not is_corrupt(exc):
                raise
            self.recovered_from = move_aside(path)
            log.error(
                "outbox %s is corrupt (%s); moved it to %s and started a fresh one",
                path,
                exc,
                self.recovered_from,
            )
            self.db = open_database(path)

    def __enter__(self) -> Outbox:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        self.db.conn.close()

    def append(
        self, events: Iterable[Mapping[str, Any]], dropped: Mapping[str, int] | None = None
    ) -> int:
        """Commit events (docs/protocol.md Event objects) in one transaction; returns how many
        were new (an id already stored is not stored twice). `dropped` adds to the drop
        counters in the same transaction. StorageError if it cannot."""
        rows = {}
        for event in events:
            body = json.dumps(event, separators=(",", ":"), ensure_ascii=False)
            rows[event["id"]] = (event["id"], event["type"], event["ts"], body, len(body.encode()))
        if not rows and not dropped:
            return 0
        with _storage_errors(), self.db.conn:
            self.db.conn.execute("BEGIN IMMEDIATE")
            for kind, count in (dropped or {}).items():
                bump(self.db.conn, f"dropped.{kind}", count)
            if not rows:
                return 0
            known = self._known(list(rows))
            fresh = [row for event_id, row in rows.items() if event_id not in known]
            if fresh:
                self.db.conn.executemany(
                    "INSERT INTO events(id, type, ts, body, size) VALUES (?, ?, ?, ?, ?)", fresh
                )
                bump(self.db.conn, "accepted_total", len(fresh))
                bump(self.db.conn, "stored_rows", len(fresh))
                bump(self.db.conn, "stored_bytes", sum(row[4] for row in fresh))
                budget.enforce(self.db.conn, self.max_rows, self.max_bytes)
        return len(fresh)

    def _known(self, ids: list[str]) -> set[str]:
        """Which of `ids` are stored already (a redelivery is not stored twice)."""
        known: set[str] = set()
        for start in range(0, len(ids), 500):
            chunk = ids[start : start + 500]
            marks = ",".join("?" * len(chunk))
            known.update(
                row[0]
                for row in self.db.conn.execute(
                    f"SELECT id FROM events WHERE id IN ({marks})", chunk
                )
            )
        return known

    def next_batch(self, device_id: str, max_events: int, max_bytes: int = 64_000) -> Batch | None:
        """The batch to send now: the unacknowledged one in flight, else a new one of the oldest.

        A batch is one row in `batches` naming a range of seqs: making it and acknowledging
        it never rewrite the events themselves (SD card wear)."""
        with _storage_errors(), _unsynced(self.db.conn), self.db.conn:
            self.db.conn.execute("BEGIN IMMEDIATE")
            found = self._in_flight()
            if found is not None:
                batch_id, rows = found
            else:
                batch_id, rows = new_id(), self._oldest_unbatched(max_events, max_bytes)
                if not rows:
                    return None
                self.db.conn.execute(
                    "INSERT INTO batches(batch_id, first_seq, last_seq) VALUES (?, ?, ?)",
                    [batch_id, rows[0][0], rows[-1][0]],
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

    def _in_flight(self) -> tuple[str, list[tuple[int, str, str]]] | None:
        """The oldest batch in flight and its (seq, id, body) rows; a batch left without
        events (expired or purged whole) is forgotten on the way."""
        while True:
            batch = self.db.conn.execute(
                "SELECT batch_id, first_seq, last_seq FROM batches ORDER BY first_seq LIMIT 1"
            ).fetchone()
            if batch is None:
                return None
            rows = self.db.conn.execute(
                "SELECT seq, id, body FROM events WHERE seq BETWEEN ? AND ? ORDER BY seq",
                [batch[1], batch[2]],
            ).fetchall()
            if rows:
                return str(batch[0]), rows
            self.db.conn.execute("DELETE FROM batches WHERE batch_id = ?", [batch[0]])

    def _oldest_unbatched(self, max_events: int, max_bytes: int) -> list[tuple[int, str, str]]:
        """The oldest events in no batch: at most `max_events`, within `max_bytes` (one
        event over it still goes alone)."""
        candidates = self.db.conn.execute(
            f"SELECT seq, id, body, size FROM events WHERE {UNBATCHED} ORDER BY seq LIMIT ?",
            [max_events],
        ).fetchall()
        rows: list[tuple[int, str, str]] = []
        total = 0
        for seq, event_id, body, size in candidates:
            if rows and total + size > max_bytes:
                break
            rows.append((seq, event_id, body))
            total += size
        return rows

    def ack(self, batch_id: str) -> int:
        """Central stored the batch: delete its rows. Returns how many (0 if unknown)."""
        with _storage_errors(), _unsynced(self.db.conn), self.db.conn:
            self.db.conn.execute("BEGIN IMMEDIATE")
            span = self.db.conn.execute(
                "SELECT first_seq, last_seq FROM batches WHERE batch_id = ?", [batch_id]
            ).fetchone()
            if span is None:
                return 0
            gone = self.db.conn.execute(
                "SELECT COUNT(*), COALESCE(SUM(size), 0) FROM events WHERE seq BETWEEN ? AND ?",
                span,
            ).fetchone()
            count = int(gone[0])
            self.db.conn.execute("DELETE FROM events WHERE seq BETWEEN ? AND ?", span)
            self.db.conn.execute("DELETE FROM batches WHERE batch_id = ?", [batch_id])
            if count:
                bump(self.db.conn, "acked_total", count)
                bump(self.db.conn, "stored_rows", -count)
                bump(self.db.conn, "stored_bytes", -int(gone[1]))
        return count

    def remember_command(self, cmd_id: str, ts: int, expires_ts: int | None = None) -> bool:
        """Record `cmd_id` as carried out; False if it was already (a replay or redelivery)."""
        with _storage_errors(), self.db.conn:
            self.db.conn.execute("BEGIN IMMEDIATE")
            fresh = self.db.conn.execute(
                "INSERT OR IGNORE INTO commands(cmd_id, ts, expires_ts) VALUES (?, ?, ?)",
                [cmd_id, ts, expires_ts],
            ).rowcount
            self.db.conn.execute(
                "DELETE FROM commands WHERE rowid <= (SELECT MAX(rowid) FROM commands) - ?",
                [SEEN_COMMANDS_KEPT],
            )
        return bool(fresh)

    def forget_commands(self, now_ms: int, margin_ms: int = COMMAND_MARGIN_MS) -> int:
        """Forget cmd_ids whose command expired more than `margin_ms` before `now_ms` (call
        only with a synchronised clock): an expired command is refused by its expiry anyway."""
        with _storage_errors(), self.db.conn:
            self.db.conn.execute("BEGIN IMMEDIATE")
            return int(
                self.db.conn.execute(
                    "DELETE FROM commands WHERE COALESCE(expires_ts, ts) < ?", [now_ms - margin_ms]
                ).rowcount
            )

    def expire(self, before_ts: int) -> dict[str, int]:
        """Delete events recorded before `before_ts` (ms; call only with a synchronised clock),
        counted as drops by type and in `expired_total`. Returns the drops by type.

        Only events stamped by a synchronised clock are judged: the time of the others is
        not known, and the row and byte budgets bound them. An unacknowledged batch goes
        only as a whole, once its newest event is past, so a resent batch still keeps its
        id and its events.
        """
        with _storage_errors(), self.db.conn:
            self.db.conn.execute("BEGIN IMMEDIATE")
            return removal.expire(self.db.conn, before_ts)

    def correct_clock(self, boot_id: str, offset_ms: int) -> int:
        """The clock synchronised: events of boot `boot_id` not yet in a batch get their true
        `ts` (clockfix.py); a batch once made is never changed. Returns how many."""
        with _storage_errors(), self.db.conn:
            self.db.conn.execute("BEGIN IMMEDIATE")
            return clockfix.correct_rows(self.db.conn, boot_id, offset_ms)

    def purge_visitor(self, forms: Iterable[str]) -> Purged:
        """Delete every event naming any of `forms` (a visitor's id and its pseudonyms: a
        privacy request), wherever it is, then truncate the WAL.

        An unacknowledged batch that held such an event is dissolved: its other events go
        back to the queue and are sent again in a new batch (central de-duplicates by
        event id), so no batch id is ever resent with different events.
        """
        with _storage_errors(), self.db.conn:
            self.db.conn.execute("BEGIN IMMEDIATE")
            purged = removal.purge_visitor(self.db.conn, forms)
        self.truncate_wal()
        return purged

    def truncate_wal(self) -> bool:
        """Copy the WAL into the database and empty it; False if a reader kept it busy."""
        with _storage_errors():
            busy = self.db.conn.execute("PRAGMA wal_checkpoint(TRUNCATE)").fetchone()[0]
        if busy:
            log.warning("the outbox's write-ahead log could not be emptied (another reader)")
        return not busy

    def counter(self, name: str) -> int:
        row = self.db.execute("SELECT value FROM counters WHERE name = ?", [name]).fetchone()
        return int(row[0]) if row else 0

    def pending(self) -> int:
        """Events not yet acknowledged (in flight included); cheap."""
        return totals(self.db.conn)[0]

    def events(self) -> Iterator[str]:
        """Every unacknowledged event's JSON, oldest first (for export)."""
        for (body,) in self.db.execute("SELECT body FROM events ORDER BY seq"):
            yield str(body)

    def status(self) -> dict[str, Any]:
        """The `omo-edge outbox status --json` object."""
        rows, _size = totals(self.db.conn)
        (inflight,) = self.db.execute(
            "SELECT COUNT(*) FROM events JOIN batches ON seq BETWEEN first_seq AND last_seq"
        ).fetchone()
        (oldest,) = self.db.execute("SELECT MIN(ts) FROM events").fetchone()
        return {
            "pending": rows - int(inflight),
            "inflight": int(inflight),
            "dropped": self.dropped(),
            "acked_total": self.counter("acked_total"),
            "oldest_pending_ts": oldest,
            "db_bytes": self.file_bytes(),
        }

    def dropped(self) -> dict[str, int]:
        """Events dropped by the budgets, by type (persistent)."""
        return {
            name.removeprefix("dropped."): int(value)
            for name, value in self.db.execute(
                "SELECT name, value FROM counters WHERE name LIKE 'dropped.%' ORDER BY name"
            ).fetchall()
        }

    def file_bytes(self) -> int:
        """The database's size on disk (file, WAL and shared memory)."""
        return sum(
            p.stat().st_size
            for p in self.path.parent.glob(self.path.name + "*")
            if p.is_file() and ".corrupt-" not in p.name
        )
