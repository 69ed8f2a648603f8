"""The SQLite outbox (sqlite-utils, WAL, synchronous=FULL).

An event is accepted once its transaction commits. Rows are grouped into
batches; a batch keeps its id and rows until central acknowledges it, so a
resend after a crash or outage is the same batch (PROTOCOL.md: at-least-once,
de-duplicated centrally by event id).

Why synchronous=FULL: in WAL mode NORMAL syncs only at checkpoints, so a
power cut (a Pi's everyday failure) can lose the last transactions even
though they were committed; FULL fsyncs the WAL on every commit. The cost is
one fsync per transaction, which is why the daemon groups its own events
into short transactions (edge/outbox/writer.py).

Bounds: a row and a byte budget. Over budget, low-value kinds go first
(`visit.dwell`, `device.health`), then the oldest of any kind; never a batch
in flight. Every drop is counted by type in a persistent counter.

Privacy (docs/data-protection.md): `secure_delete` is on, so a deleted event
(acknowledged, expired, purged) is overwritten with zeros rather than left
in free pages; `expire` bounds how long an unsent event is kept; and
`purge_visitor` removes a visitor's events, then truncates the WAL so no old
page copy of them survives there.
"""

from __future__ import annotations

import contextlib
import json
import logging
import sqlite3
import time
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import sqlite_utils

from edge.errors import EdgeError
from edge.ids import new_id

log = logging.getLogger(__name__)

LOW_VALUE = ("visit.dwell", "device.health")
DROP_CHUNK = 500

# Numbered migrations: index + 1 = schema version after applying it. Append only.
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
    # Running totals, so status and budgets never count a million rows.
    """
    INSERT OR REPLACE INTO counters(name, value) SELECT 'stored_rows', COUNT(*) FROM events;
    INSERT OR REPLACE INTO counters(name, value)
        SELECT 'stored_bytes', COALESCE(SUM(size), 0) FROM events;
    CREATE INDEX events_type_seq ON events (type, seq) WHERE batch_id IS NULL;
    """,
    # Commands already carried out, so a redelivered or replayed cmd_id is refused.
    """
    CREATE TABLE commands (cmd_id TEXT PRIMARY KEY, ts INTEGER NOT NULL);
    """,
    # A command's own expiry, so a remembered cmd_id can be forgotten once it is past.
    """
    ALTER TABLE commands ADD COLUMN expires_ts INTEGER;
    """,
)
SEEN_COMMANDS_KEPT = 10_000
COMMAND_MARGIN_MS = 24 * 3_600_000  # a cmd_id is remembered this long past its expiry


@dataclass(frozen=True, slots=True)
class Purged:
    """What `purge_visitor` removed: events, the check-in nonces they named, and how many
    other events left an unacknowledged batch (they are sent again in a new batch)."""

    events: int
    nonces: tuple[str, ...]
    released: int


class StorageError(EdgeError):
    """The outbox cannot write (disk full, read-only file system, I/O error)."""


@dataclass(frozen=True, slots=True)
class Batch:
    """Events sent together; `payload` is the exact `P/events` JSON body."""

    batch_id: str
    event_ids: tuple[str, ...]
    payload: bytes


def _is_corrupt(exc: sqlite3.DatabaseError) -> bool:
    text = str(exc).lower()
    return "malformed" in text or "not a database" in text or "corrupt" in text


@contextlib.contextmanager
def _storage_errors() -> Iterator[None]:
    """sqlite3's write failures as one StorageError a caller can retry on."""
    try:
        yield
    except sqlite3.DatabaseError as exc:  # full, read-only, I/O error, corruption found late
        raise StorageError(f"outbox cannot write: {exc}") from exc


class Outbox:
    """The durable queue of events. Use as a context manager; one close path."""

    def __init__(self, path: Path, max_rows: int = 0, max_bytes: int = 0) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        self.path = path
        self.max_rows, self.max_bytes = max_rows, max_bytes
        self.recovered_from: Path | None = None
        try:
            self._open()
        except sqlite3.DatabaseError as exc:
            if not _is_corrupt(exc):
                raise
            self.recovered_from = self._move_aside(exc)
            self._open()

    def _open(self) -> None:
        conn = sqlite3.connect(self.path, isolation_level=None, check_same_thread=False, timeout=10)
        try:
            self.db = sqlite_utils.Database(conn)
            self.db.execute("PRAGMA journal_mode=WAL")
            self.db.execute("PRAGMA synchronous=FULL")
            self.db.execute("PRAGMA secure_delete=ON")
            check = self.db.execute("PRAGMA quick_check(1)").fetchone()[0]
            if check != "ok":
                raise sqlite3.DatabaseError(f"database disk image is malformed ({check})")
            self._migrate()
        except sqlite3.DatabaseError:
            conn.close()
            raise

    def _move_aside(self, exc: Exception) -> Path:
        """A corrupt file is kept for forensics under a timestamped name; we start afresh."""
        stamp = time.strftime("%Y%m%dT%H%M%S")
        aside = self.path.with_name(f"{self.path.name}.corrupt-{stamp}")
        n = 1
        while aside.exists():  # never overwrite an earlier copy
            aside = self.path.with_name(f"{self.path.name}.corrupt-{stamp}-{n}")
            n += 1
        for suffix in ("", "-wal", "-shm"):
            part = Path(str(self.path) + suffix)
            if part.exists():
                part.rename(Path(str(aside) + suffix))
        log.error(
            "outbox %s is corrupt (%s); moved it to %s and started a fresh one",
            self.path,
            exc,
            aside,
        )
        return aside

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
        self.db.conn.execute(
            "INSERT INTO counters(name, value) VALUES (?, ?) "
            "ON CONFLICT(name) DO UPDATE SET value = value + excluded.value",
            [name, by],
        )

    def append(
        self, events: Iterable[Mapping[str, Any]], dropped: Mapping[str, int] | None = None
    ) -> int:
        """Commit events (PROTOCOL.md Event objects) in one transaction; returns how many
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
                self._bump(f"dropped.{kind}", count)
            if not rows:
                return 0
            known = self._known(list(rows))
            fresh = [row for event_id, row in rows.items() if event_id not in known]
            if fresh:
                self.db.conn.executemany(
                    "INSERT INTO events(id, type, ts, body, size) VALUES (?, ?, ?, ?, ?)", fresh
                )
                self._bump("accepted_total", len(fresh))
                self._bump("stored_rows", len(fresh))
                self._bump("stored_bytes", sum(row[4] for row in fresh))
                self._enforce_budget()
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

    def _enforce_budget(self) -> None:
        """Inside a write transaction: drop low-value, then oldest, until within budget."""
        for kinds in (LOW_VALUE, None):
            while self._over_budget():
                if kinds is None:
                    victims = self.db.conn.execute(
                        "SELECT seq, type, size FROM events WHERE batch_id IS NULL"
                        " ORDER BY seq LIMIT ?",
                        [DROP_CHUNK],
                    ).fetchall()
                else:
                    victims = self.db.conn.execute(
                        "SELECT seq, type, size FROM events WHERE batch_id IS NULL"
                        f" AND type IN ({','.join('?' * len(kinds))}) ORDER BY seq LIMIT ?",
                        [*kinds, DROP_CHUNK],
                    ).fetchall()
                if not victims:
                    break
                victims = self._just_enough(victims)
                self.db.conn.executemany(
                    "DELETE FROM events WHERE seq = ?", [(v[0],) for v in victims]
                )
                by_type: dict[str, int] = {}
                for _seq, kind, _size in victims:
                    by_type[kind] = by_type.get(kind, 0) + 1
                for kind, count in by_type.items():
                    self._bump(f"dropped.{kind}", count)
                self._bump("stored_rows", -len(victims))
                self._bump("stored_bytes", -sum(v[2] for v in victims))

    def _totals(self) -> tuple[int, int]:
        got = dict(
            self.db.conn.execute(
                "SELECT name, value FROM counters WHERE name IN ('stored_rows', 'stored_bytes')"
            ).fetchall()
        )
        return int(got.get("stored_rows", 0)), int(got.get("stored_bytes", 0))

    def _over_budget(self) -> bool:
        rows, size = self._totals()
        return bool(
            (self.max_rows and rows > self.max_rows) or (self.max_bytes and size > self.max_bytes)
        )

    def _just_enough(self, victims: list[tuple[int, str, int]]) -> list[tuple[int, str, int]]:
        """The fewest of `victims` (in order) whose removal brings us within budget."""
        rows, size = self._totals()
        chosen = []
        for victim in victims:
            if not (
                (self.max_rows and rows > self.max_rows)
                or (self.max_bytes and size > self.max_bytes)
            ):
                break
            chosen.append(victim)
            rows, size = rows - 1, size - victim[2]
        return chosen

    def next_batch(self, device_id: str, max_events: int, max_bytes: int = 64_000) -> Batch | None:
        """The batch to send now: the unacknowledged one in flight, else a new one of the oldest."""
        # ORDER BY batch_id, seq lets SQLite walk the (batch_id, seq) index instead of the table.
        rows = self.db.execute(
            "SELECT batch_id, id, body, size FROM events WHERE batch_id IS NOT NULL"
            " ORDER BY batch_id, seq"
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
            with _storage_errors(), self.db.conn:
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
        """Central stored the batch: delete its rows. Returns how many (0 if unknown)."""
        with _storage_errors(), self.db.conn:
            self.db.conn.execute("BEGIN IMMEDIATE")
            gone = self.db.conn.execute(
                "SELECT COUNT(*), COALESCE(SUM(size), 0) FROM events WHERE batch_id = ?",
                [batch_id],
            ).fetchone()
            count = int(gone[0])
            if count:
                self.db.conn.execute("DELETE FROM events WHERE batch_id = ?", [batch_id])
                self._bump("acked_total", count)
                self._bump("stored_rows", -count)
                self._bump("stored_bytes", -int(gone[1]))
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
        dropped: dict[str, int] = {}
        with _storage_errors(), self.db.conn:
            self.db.conn.execute("BEGIN IMMEDIATE")
            victims = []
            for (batch_id,) in self.db.conn.execute(
                "SELECT batch_id FROM events WHERE batch_id IS NOT NULL GROUP BY batch_id"
                " HAVING MAX(ts) < ? AND MIN(json_extract(body, '$.clock_synced')) = 1",
                [before_ts],
            ).fetchall():
                victims += self.db.conn.execute(
                    "SELECT seq, type, size FROM events WHERE batch_id = ?", [batch_id]
                ).fetchall()
            after = 0
            while True:  # oldest first; stop at the first event within retention
                chunk = self.db.conn.execute(
                    "SELECT seq, type, size, ts, json_extract(body, '$.clock_synced')"
                    " FROM events WHERE batch_id IS NULL AND seq > ? ORDER BY seq LIMIT ?",
                    [after, DROP_CHUNK],
                ).fetchall()
                recent = False
                for seq, kind, size, ts, synced in chunk:
                    if synced == 1 and ts >= before_ts:
                        recent = True
                        break
                    if synced == 1:
                        victims.append((seq, kind, size))
                if recent or len(chunk) < DROP_CHUNK:
                    break
                after = chunk[-1][0]
            if victims:
                self.db.conn.executemany(
                    "DELETE FROM events WHERE seq = ?", [(v[0],) for v in victims]
                )
                for _seq, kind, _size in victims:
                    dropped[kind] = dropped.get(kind, 0) + 1
                for kind, count in dropped.items():
                    self._bump(f"dropped.{kind}", count)
                self._bump("expired_total", len(victims))
                self._bump("stored_rows", -len(victims))
                self._bump("stored_bytes", -sum(v[2] for v in victims))
        return dropped

    def purge_visitor(self, forms: Iterable[str]) -> Purged:
        """Delete every event naming any of `forms` (a visitor's id and its pseudonyms: a
        privacy request), wherever it is, then truncate the WAL.

        An unacknowledged batch that held such an event is dissolved: its other events go
        back to the queue and are sent again in a new batch (central de-duplicates by
        event id), so no batch id is ever resent with different events.
        """
        names = sorted(set(forms))
        marks = ",".join("?" * len(names))
        where = f"json_extract(body, '$.visitor') IN ({marks})"
        with _storage_errors(), self.db.conn:
            self.db.conn.execute("BEGIN IMMEDIATE")
            rows = self.db.conn.execute(
                f"SELECT seq, size, batch_id, json_extract(body, '$.nonce') FROM events"
                f" WHERE {where}",
                names,
            ).fetchall()
            batches = sorted({r[2] for r in rows if r[2] is not None})
            self.db.conn.executemany("DELETE FROM events WHERE seq = ?", [(r[0],) for r in rows])
            released = 0
            for batch_id in batches:
                released += self.db.conn.execute(
                    "UPDATE events SET batch_id = NULL WHERE batch_id = ?", [batch_id]
                ).rowcount
            if rows:
                self._bump("stored_rows", -len(rows))
                self._bump("stored_bytes", -sum(int(r[1]) for r in rows))
                self._bump("purged_total", len(rows))
        self.truncate_wal()
        nonces = tuple(str(r[3]) for r in rows if isinstance(r[3], str))
        return Purged(len(rows), nonces, released)

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
        return self._totals()[0]

    def events(self) -> Iterator[str]:
        """Every unacknowledged event's JSON, oldest first (for export)."""
        for (body,) in self.db.execute("SELECT body FROM events ORDER BY seq"):
            yield str(body)

    def status(self) -> dict[str, Any]:
        """The `omo-edge outbox status --json` object."""
        rows, _size = self._totals()
        (inflight,) = self.db.execute(
            "SELECT COUNT(*) FROM events WHERE batch_id IS NOT NULL"
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
