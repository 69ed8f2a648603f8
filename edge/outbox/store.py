"""The SQLite outbox: an event is accepted once its transaction commits (synchronous=FULL,
so a power cut cannot take it back), and kept until central acknowledges its batch.

Events are cut into batches when they are committed; a batch is one row (packing.py,
rows.py) and keeps its id and events until acknowledged, so a resend after a crash or
an outage is the same batch (at-least-once, de-duplicated centrally by event id).
Sending writes nothing, and an acknowledgement is settled in memory and written with
the next transaction (the writer's next commit, or the close): every transaction costs
an SD card the same whatever it holds (docs/deployment.md "SD card wear"), and a power
cut can only undo an ack harmlessly (the batch is resent and acknowledged again).
Budgets (budget.py), expiry and purges (removal.py) never change a batch that may have
been sent. docs/outbox.md and docs/data-protection.md say the rest.

This module is the `Outbox` itself: transactions, batches, acknowledgements,
remembered commands and status; schema.py opens and migrates the file.
"""

from __future__ import annotations

import contextlib
import logging
import sqlite3
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from edge.errors import EdgeError
from edge.outbox import budget, clockfix, packing, removal
from edge.outbox.removal import Purged
from edge.outbox.rows import bump, count_drops, insert_batch, replace_batch, totals
from edge.outbox.schema import (
    MIGRATIONS,
    is_corrupt,
    move_aside,
    open_database,
)

__all__ = [
    "COMMAND_MARGIN_MS",
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
RECENT_IDS_KEPT = 10_000  # event ids appended lately, so a second append stores nothing
ACKS_HELD_MAX = 500  # acknowledgements settled in memory before they are written anyway


class StorageError(EdgeError):
    """The outbox cannot write (disk full, read-only file system, I/O error)."""


@dataclass(frozen=True, slots=True)
class Batch:
    """Events sent together; `payload` is the exact `P/events` JSON body."""

    batch_id: str
    event_ids: tuple[str, ...]
    payload: bytes


@dataclass(frozen=True, slots=True)
class _Sent:
    """A batch offered to central in this process: its row, events and bytes."""

    seq: int
    events: int
    size: int


@contextlib.contextmanager
def _storage_errors() -> Iterator[None]:
    """sqlite3's write failures as one StorageError a caller can retry on."""
    try:
        yield
    except sqlite3.DatabaseError as exc:  # full, read-only, I/O error, corruption found late
        raise StorageError(f"outbox cannot write: {exc}") from exc
    except packing.Unreadable as exc:  # next_batch sets such a batch aside
        raise StorageError(str(exc)) from exc


class Outbox:
    """The durable queue of events. Use as a context manager; one close path."""

    def __init__(
        self,
        path: Path,
        max_rows: int = 0,
        max_bytes: int = 0,
        *,
        batch_max_events: int = 200,
        batch_max_bytes: int = 64_000,
    ) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        self.path = path
        self.max_rows, self.max_bytes = max_rows, max_bytes
        self.batch_max_events, self.batch_max_bytes = batch_max_events, batch_max_bytes
        self.recovered_from: Path | None = None
        self._offered: dict[str, _Sent] = {}  # sent in this process, not yet acknowledged
        self._unmarked: set[str] = set()  # offered, not yet written as such
        self._acked: dict[str, _Sent] = {}  # acknowledged, not yet deleted on disk
        self._recent: dict[str, None] = {}  # ids appended lately, oldest first
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
        """Write what is settled in memory (acknowledgements), then close."""
        with contextlib.suppress(StorageError):
            self.settle()
        self.db.conn.close()

    @contextlib.contextmanager
    def _writing(self) -> Iterator[sqlite3.Connection]:
        """One write transaction, which also writes what was settled in memory since the
        last one (acknowledgements, batches sent). StorageError if it cannot."""
        conn = self.db.conn
        with _storage_errors(), conn:
            conn.execute("BEGIN IMMEDIATE")
            self._write_settled(conn)
            yield conn
        self._acked.clear()
        self._unmarked.clear()

    def _write_settled(self, conn: sqlite3.Connection) -> None:
        events = size = 0
        for batch_id, sent in self._acked.items():
            sql = "DELETE FROM batches WHERE seq = ? AND batch_id = ?"
            if conn.execute(sql, [sent.seq, batch_id]).rowcount:  # not expired meanwhile
                events, size = events + sent.events, size + sent.size
        if events:
            bump(conn, "acked_total", events)
            bump(conn, "stored_rows", -events)
            bump(conn, "stored_bytes", -size)
        marks = [(self._offered[b].seq, b) for b in self._unmarked if b in self._offered]
        if marks:
            conn.executemany("UPDATE batches SET offered = 1 WHERE seq = ? AND batch_id = ?", marks)

    def settle(self) -> None:
        """Write the acknowledgements and sends settled in memory now (nothing to write:
        nothing). Fsynced like every transaction: in rollback-journal mode a lighter sync
        could corrupt the file in a power cut, not just lose the acks."""
        if self._acked or self._unmarked:
            with self._writing():
                pass

    def append(
        self, events: Iterable[Mapping[str, Any]], dropped: Mapping[str, int] | None = None
    ) -> int:
        """Commit events (docs/protocol.md Event objects) in one transaction, as batches of
        at most `batch_max_events` and `batch_max_bytes`; returns how many were new (an id
        appended lately is not stored twice). `dropped` adds to the drop counters in the
        same transaction. StorageError if it cannot."""
        texts: dict[str, str] = {}
        for event in events:
            if event["id"] not in self._recent:
                texts.setdefault(event["id"], packing.text(event))
        if not texts and not dropped and not self._acked:
            return 0
        with self._writing() as conn:
            count_drops(conn, dropped or {})
            fresh = list(texts.values())
            rows = [
                insert_batch(conn, batch)
                for batch in packing.batches(fresh, self.batch_max_events, self.batch_max_bytes)
            ]
            if fresh:
                bump(conn, "accepted_total", len(fresh))
                bump(conn, "stored_rows", len(fresh))
                bump(conn, "stored_bytes", sum(row.size for row in rows))
                budget.enforce(conn, self.max_rows, self.max_bytes, self._offered.keys())
        self._remember_ids(texts)
        return len(texts)

    def _remember_ids(self, ids: Iterable[str]) -> None:
        for event_id in ids:
            self._recent[event_id] = None
        while len(self._recent) > RECENT_IDS_KEPT:  # the oldest first (insertion order)
            del self._recent[next(iter(self._recent))]

    def next_batch(self, device_id: str) -> Batch | None:
        """The batch to send now: the oldest not acknowledged. Writes nothing: that it was
        sent is written with the next transaction. A batch that cannot be read (a damaged
        file) is deleted, its events counted as `dropped.unreadable`, and the next one goes:
        one bad row must not stop the queue."""
        while True:
            with _storage_errors():
                row = self.db.conn.execute(
                    "SELECT seq, batch_id, events, size, body FROM batches"
                    f" WHERE batch_id NOT IN ({','.join('?' * len(self._acked))})"
                    " ORDER BY seq LIMIT 1",
                    list(self._acked),
                ).fetchone()
            if row is None:
                return None
            seq, batch_id, events, size, body = row
            try:
                texts = packing.unpack(body)
                ids = tuple(packing.event_id(t) for t in texts)
            except (packing.Unreadable, ValueError, KeyError, TypeError) as exc:
                self._set_aside(seq, batch_id, events, exc)
                continue
            if batch_id not in self._offered:
                self._offered[batch_id] = _Sent(seq, events, size)
                self._unmarked.add(batch_id)
            return Batch(batch_id, ids, packing.payload(batch_id, device_id, texts))

    def _set_aside(self, seq: int, batch_id: str, events: int, why: Exception) -> None:
        log.error(
            "outbox batch %s cannot be read (%s); deleted, its %d events counted as dropped"
            " (dropped.unreadable)",
            batch_id,
            why,
            events,
        )
        with self._writing() as conn:
            replace_batch(conn, seq, [])
            count_drops(conn, {"unreadable": events})
        self._offered.pop(batch_id, None)
        self._unmarked.discard(batch_id)

    def ack(self, batch_id: str) -> int:
        """Central stored the batch: its events are gone (deleted on disk with the next
        transaction). Returns how many (0 if unknown or acknowledged already)."""
        if batch_id in self._acked:
            return 0
        sent = self._offered.pop(batch_id, None)
        self._unmarked.discard(batch_id)
        if sent is None:  # sent by an earlier run of the daemon
            with _storage_errors():
                row = self.db.conn.execute(
                    "SELECT seq, events, size FROM batches WHERE batch_id = ?", [batch_id]
                ).fetchone()
            if row is None:
                return 0
            sent = _Sent(*row)
        self._acked[batch_id] = sent
        if len(self._acked) >= ACKS_HELD_MAX:  # a long drain with nothing else to commit
            self.settle()
        return sent.events

    def remember_command(self, cmd_id: str, ts: int, expires_ts: int | None = None) -> bool:
        """Record `cmd_id` as carried out; False if it was already (a replay or redelivery)."""
        with self._writing() as conn:
            fresh = conn.execute(
                "INSERT OR IGNORE INTO commands(cmd_id, ts, expires_ts) VALUES (?, ?, ?)",
                [cmd_id, ts, expires_ts],
            ).rowcount
            conn.execute(
                "DELETE FROM commands WHERE rowid <= (SELECT MAX(rowid) FROM commands) - ?",
                [SEEN_COMMANDS_KEPT],
            )
        return bool(fresh)

    def forget_commands(self, now_ms: int, margin_ms: int = COMMAND_MARGIN_MS) -> int:
        """Forget cmd_ids whose command expired more than `margin_ms` before `now_ms` (call
        only with a synchronised clock): an expired command is refused by its expiry anyway."""
        with self._writing() as conn:
            return int(
                conn.execute(
                    "DELETE FROM commands WHERE COALESCE(expires_ts, ts) < ?", [now_ms - margin_ms]
                ).rowcount
            )

    def expire(self, before_ts: int) -> dict[str, int]:
        """Delete events recorded before `before_ts` (ms; call only with a synchronised clock),
        counted as drops by type and in `expired_total`. Returns the drops by type.

        Only events stamped by a synchronised clock are judged: the time of the others is
        not known, and the row and byte budgets bound them. A batch that may have been sent
        goes only as a whole, once its newest event is past, so a resent batch still keeps
        its id and its events.
        """
        with self._writing() as conn:
            dropped = removal.expire(conn, before_ts, self._offered.keys())
            self._forget_gone(conn)
        return dropped

    def correct_clock(self, boot_id: str, offset_ms: int) -> int:
        """The clock synchronised: events of boot `boot_id` in batches not sent yet get their
        true `ts` (clockfix.py); a batch that may have been sent is never changed. Returns
        how many."""
        with self._writing() as conn:
            return clockfix.correct_rows(conn, boot_id, offset_ms, self._offered.keys())

    def purge_visitor(self, forms: Iterable[str]) -> Purged:
        """Delete every event naming any of `forms` (a visitor's id and its pseudonyms: a
        privacy request), wherever it is, then delete the journal (old page copies).

        A batch that may have been sent and held such an event is dissolved: its other
        events go again under a new batch id (central de-duplicates by event id), so no
        batch id is ever resent with different events.
        """
        with self._writing() as conn:
            purged = removal.purge_visitor(conn, forms, self._offered.keys())
            self._forget_gone(conn)
        self.drop_journal()
        return purged

    def _forget_gone(self, conn: sqlite3.Connection) -> None:
        """Forget the batches sent in this process that are no longer stored under their id
        (expired, or dissolved by a purge): a late ack of one deletes nothing."""
        offered = list(self._offered)
        kept = {
            row[0]
            for row in conn.execute(
                f"SELECT batch_id FROM batches WHERE batch_id IN ({','.join('?' * len(offered))})",
                offered,
            )
        }
        for batch_id in set(offered) - kept:
            del self._offered[batch_id]
            self._unmarked.discard(batch_id)

    def drop_journal(self) -> None:
        """Delete the rollback journal, which keeps the pages of the last transactions as
        they were before (a purged visitor's too); the next transaction makes a new one."""
        with _storage_errors():
            self.db.conn.execute("PRAGMA journal_mode=DELETE")
            self.db.conn.execute("PRAGMA journal_mode=PERSIST")

    def counter(self, name: str) -> int:
        row = self.db.execute("SELECT value FROM counters WHERE name = ?", [name]).fetchone()
        return int(row[0]) if row else 0

    def pending(self) -> int:
        """Events not yet acknowledged (in flight included); cheap."""
        return totals(self.db.conn)[0] - sum(sent.events for sent in self._acked.values())

    def events(self) -> Iterator[str]:
        """Every unacknowledged event's JSON, oldest first (for export)."""
        for batch_id, body in self.db.execute("SELECT batch_id, body FROM batches ORDER BY seq"):
            if batch_id in self._acked:
                continue
            try:
                yield from packing.unpack(body)
            except packing.Unreadable as exc:
                log.error("outbox batch %s left out: %s", batch_id, exc)

    def status(self) -> dict[str, Any]:
        """The `omo-edge outbox status --json` object. From another process than the
        daemon's, acknowledgements and sends of the last `hold_s` may not show yet."""
        acked = list(self._acked)
        skip = f"batch_id NOT IN ({','.join('?' * len(acked))})"
        offered = list(self._offered)
        sent = f"(offered = 1 OR batch_id IN ({','.join('?' * len(offered))}))"
        inflight, oldest = self.db.execute(
            f"SELECT COALESCE(SUM(CASE WHEN {sent} THEN events END), 0), MIN(first_ts)"
            f" FROM batches WHERE {skip}",
            [*offered, *acked],
        ).fetchone()
        return {
            "pending": self.pending() - int(inflight),
            "inflight": int(inflight),
            "dropped": self.dropped(),
            "acked_total": self.counter("acked_total")
            + sum(s.events for s in self._acked.values()),
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
        """The database's size on disk (file and journal)."""
        return sum(
            p.stat().st_size
            for p in self.path.parent.glob(self.path.name + "*")
            if p.is_file() and ".corrupt-" not in p.name
        )
