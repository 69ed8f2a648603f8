"""The ingest database: SQLite (one file, WAL) or PostgreSQL (psycopg 3), one schema for both.

Every group of batches is written in one transaction with insert-or-ignore on the
event id (`ON CONFLICT (id) DO NOTHING`, which both speak), so a batch resent past
a dead worker, or delivered twice by the broker, is stored once and counted as a
duplicate absorbed. The schema is created and migrated here, under a lock, so
several workers starting at once agree on it. `events` is queried by store,
device, type and time (an index each); `visits` counts visits per store and hour.
"""

from __future__ import annotations

import sqlite3
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from edge.ops.errors import OpsError
from edge.ops.ingest.batches import Batch, visitor_digest

SCHEMA_VERSION = 1
HOUR_MS = 3_600_000
_MIGRATIONS: dict[int, list[str]] = {
    1: [
        """CREATE TABLE events (
            id TEXT PRIMARY KEY,
            store_id TEXT NOT NULL,
            device_id TEXT NOT NULL,
            type TEXT NOT NULL,
            ts BIGINT NOT NULL,
            clock_synced BOOLEAN NOT NULL,
            visitor TEXT,
            visit_id TEXT,
            dwell_ms BIGINT,
            batch_id TEXT NOT NULL,
            received_ts BIGINT NOT NULL,
            body {json} NOT NULL)""",
        "CREATE INDEX events_store_ts ON events (store_id, ts)",
        "CREATE INDEX events_device_ts ON events (device_id, ts)",
        "CREATE INDEX events_type_ts ON events (type, ts)",
        "CREATE INDEX events_visitor ON events (visitor)",
        """CREATE TABLE devices (
            store_id TEXT NOT NULL,
            device_id TEXT NOT NULL,
            first_seen_ts BIGINT NOT NULL,
            last_seen_ts BIGINT NOT NULL,
            PRIMARY KEY (store_id, device_id))""",
        """CREATE TABLE erased (
            visitor_sha256 TEXT PRIMARY KEY,
            erased_ts BIGINT NOT NULL)""",
        f"""CREATE VIEW visits AS
            SELECT store_id, (ts / {HOUR_MS}) * {HOUR_MS} AS hour_ts,
                   COUNT(*) FILTER (WHERE type = 'visit.enter') AS visits,
                   COUNT(DISTINCT visitor) FILTER (WHERE type = 'visit.enter') AS visitors,
                   AVG(dwell_ms) FILTER (WHERE type = 'visit.exit') AS avg_dwell_ms
            FROM events
            WHERE type IN ('visit.enter', 'visit.exit')
            GROUP BY store_id, (ts / {HOUR_MS}) * {HOUR_MS}""",
    ],
}
_COLUMNS = (
    "id, store_id, device_id, type, ts, clock_synced, visitor, visit_id, dwell_ms, batch_id, "
    "received_ts, body"
)
_INSERT = (
    f"INSERT INTO events ({_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) "
    "ON CONFLICT (id) DO NOTHING"
)
_SEEN = (
    "INSERT INTO devices (store_id, device_id, first_seen_ts, last_seen_ts) VALUES (?, ?, ?, ?) "
    "ON CONFLICT (store_id, device_id) DO UPDATE SET last_seen_ts = excluded.last_seen_ts"
)


class DatabaseError(Exception):
    """The database refused or failed a write (it is down, full, read-only): nothing is acked."""


@dataclass(frozen=True, slots=True)
class Stored:
    batches: int
    events: int
    duplicates: int
    erased: int


class Database:
    """`Database.open(url)`; one per thread (connections are not shared)."""

    def __init__(self, url: str, conn: Any, *, postgres: bool) -> None:
        self.url = url
        self.postgres = postgres
        self._conn: Any = conn
        self._staging: Any = None  # the PostgreSQL connection that has the staging table
        self._json_type = "JSONB" if postgres else "TEXT"
        self._insert = _INSERT  # SQLite's; PostgreSQL copies (`_insert_rows`)
        self._seen = self._sql(_SEEN)

    # -- opening -------------------------------------------------------------------------
    @classmethod
    def open(cls, url: str) -> Database:
        """`sqlite:///PATH` (or a plain path) or `postgresql://...`; migrated to the schema."""
        scheme = urlsplit(url).scheme
        if scheme in ("postgresql", "postgres"):
            db = cls(url, _connect_postgres(url, OpsError), postgres=True)
        elif scheme in ("sqlite", ""):
            db = cls(url, _connect_sqlite(url), postgres=False)
        else:
            raise OpsError(f"--db {url!r}: give sqlite:///PATH or postgresql://...")
        db.migrate()
        return db

    def _sql(self, sql: str) -> str:
        return sql.replace("?", "%s") if self.postgres else sql

    def _connection(self) -> Any:
        """The connection; a PostgreSQL one that broke (the server restarted) is made anew."""
        if self._conn is None:
            self._conn = _connect_postgres(self.url, DatabaseError)
        return self._conn

    def _end(self, commit: bool) -> None:
        conn = self._conn
        if self.postgres:
            conn.commit() if commit else conn.rollback()
        elif conn.in_transaction:
            conn.execute("COMMIT" if commit else "ROLLBACK")

    def _run(self, work: Any) -> Any:
        """`work(cursor)` in one transaction: committed, or rolled back and DatabaseError."""
        try:
            cur = self._connection().cursor()
            if not self.postgres:
                cur.execute("BEGIN IMMEDIATE")  # the write lock at once, not at the first write
            try:
                result = work(cur)
            except BaseException:
                self._end(commit=False)
                raise
            self._end(commit=True)
            return result
        except (sqlite3.Error, _pg_errors()) as exc:
            if self.postgres and getattr(self._conn, "closed", False):
                self._conn = None  # reconnect at the next call
            raise DatabaseError(str(exc).strip() or type(exc).__name__) from exc

    def migrate(self) -> int:
        """Create or bring the schema up to SCHEMA_VERSION; returns the version it was at."""

        def work(cur: Any) -> int:
            if self.postgres:  # workers starting together: one migrates, the others wait
                cur.execute("SELECT pg_advisory_xact_lock(727001)")
            cur.execute("CREATE TABLE IF NOT EXISTS omo_schema (version INTEGER NOT NULL)")
            cur.execute("SELECT MAX(version) FROM omo_schema")
            found = cur.fetchone()[0] or 0
            if found > SCHEMA_VERSION:
                raise OpsError(
                    f"--db {self.url}: schema version {found} is newer than this omo-ops "
                    f"({SCHEMA_VERSION}); upgrade omo-ops"
                )
            for version in range(found + 1, SCHEMA_VERSION + 1):
                for statement in _MIGRATIONS[version]:
                    cur.execute(statement.format(json=self._json_type))
                cur.execute(self._sql("INSERT INTO omo_schema (version) VALUES (?)"), (version,))
            return int(found)

        return int(self._run(work))

    def close(self) -> None:
        if self._conn is not None:
            self._conn.close()

    # -- the ingest ----------------------------------------------------------------------
    def store(self, batches: Sequence[Batch], now_ms: int | None = None) -> Stored:
        """Every event of `batches` in one transaction, each at most once; events about an
        erased visitor are left out. Raises DatabaseError (nothing stored, nothing to ack)."""
        now = now_ms if now_ms is not None else int(time.time() * 1000)
        rows = [r for b in batches for r in b.rows]

        def work(cur: Any) -> Stored:
            erased = self._erased(cur, {r.visitor for r in rows if r.visitor})
            keep = [r for r in rows if r.visitor is None or r.visitor not in erased]
            keep.sort(key=lambda r: r.id)  # one lock order for every worker (see above)
            values = [
                (r.id, r.store_id, r.device_id, r.type, r.ts, r.clock_synced, r.visitor,
                 r.visit_id, r.dwell_ms, r.batch_id, now, r.body)
                for r in keep
            ]  # fmt: skip
            inserted = self._insert_rows(cur, values)
            devices = sorted({(b.store_id, b.device_id) for b in batches})
            cur.executemany(self._seen, [(s, d, now, now) for s, d in devices])
            return Stored(len(batches), inserted, len(keep) - inserted, len(rows) - len(keep))

        result: Stored = self._run(work)
        return result

    def _insert_rows(self, cur: Any, values: list[tuple[Any, ...]]) -> int:
        """Insert-or-ignore; how many were new. PostgreSQL: COPY into a temporary table, then
        one INSERT ... SELECT (about 4x the rows per second of a prepared INSERT per row), in
        id order: two workers storing the same resent events then wait for each other on the
        unique index instead of deadlocking (measured with 2 workers before the order)."""
        if not self.postgres:
            cur.executemany(self._insert, values)
            return int(cur.rowcount)
        if self._staging is not self._conn:  # once per connection (a new one after a restart)
            cur.execute(
                "CREATE TEMPORARY TABLE IF NOT EXISTS incoming "
                "(LIKE events INCLUDING DEFAULTS) ON COMMIT DELETE ROWS"
            )
            self._staging = self._conn
        with cur.copy(f"COPY incoming ({_COLUMNS}) FROM STDIN") as copy:
            for row in values:
                copy.write_row(row)
        cur.execute(
            f"INSERT INTO events ({_COLUMNS}) SELECT {_COLUMNS} FROM incoming ORDER BY id "
            "ON CONFLICT (id) DO NOTHING"
        )
        return int(cur.rowcount)

    def _erased(self, cur: Any, visitors: set[str]) -> set[str]:
        if not visitors:
            return set()
        by_digest = {visitor_digest(v): v for v in visitors}
        marks = ", ".join("?" * len(by_digest))
        cur.execute(
            self._sql(f"SELECT visitor_sha256 FROM erased WHERE visitor_sha256 IN ({marks})"),
            list(by_digest),
        )
        return {by_digest[row[0]] for row in cur.fetchall()}

    # -- erasure and queries -------------------------------------------------------------
    def mark_erased(self, visitor: str) -> None:
        """From now on the ingest drops this visitor's events (a resend after the purge)."""
        sql = "INSERT INTO erased (visitor_sha256, erased_ts) VALUES (?, ?) ON CONFLICT DO NOTHING"
        now = int(time.time() * 1000)
        self._run(lambda cur: cur.execute(self._sql(sql), (visitor_digest(visitor), now)))

    def erase(self, visitor: str) -> int:
        """Delete every event naming `visitor`; how many."""

        def work(cur: Any) -> int:
            cur.execute(self._sql("DELETE FROM events WHERE visitor = ?"), (visitor,))
            return int(cur.rowcount)

        return int(self._run(work))

    def stores_of(self, visitor: str) -> list[str]:
        sql = "SELECT DISTINCT store_id FROM events WHERE visitor = ? ORDER BY store_id"
        return [str(r[0]) for r in self.query(sql, (visitor,))]

    def devices_of(self, stores: Iterable[str]) -> list[tuple[str, str]]:
        wanted = sorted(set(stores))
        if not wanted:
            return []
        marks = ", ".join("?" * len(wanted))
        sql = f"SELECT store_id, device_id FROM devices WHERE store_id IN ({marks}) ORDER BY 1, 2"
        return [(str(s), str(d)) for s, d in self.query(sql, wanted)]

    def query(self, sql: str, params: Sequence[Any] = ()) -> list[tuple[Any, ...]]:
        """A read (tests, benchmarks, `purge`); `?` placeholders on both databases."""
        try:
            cur = self._connection().cursor()
            try:
                cur.execute(self._sql(sql), list(params))
                return [tuple(r) for r in cur.fetchall()]
            finally:
                self._end(commit=False)  # PostgreSQL: end the read transaction
        except (sqlite3.Error, _pg_errors()) as exc:
            if self.postgres and getattr(self._conn, "closed", False):
                self._conn = None
            raise DatabaseError(str(exc).strip() or type(exc).__name__) from exc


def _connect_sqlite(url: str) -> sqlite3.Connection:
    # sqlite:///relative/path, sqlite:////absolute/path (SQLAlchemy's spelling), or a path
    path = Path(url.removeprefix("sqlite://").removeprefix("/") if "://" in url else url)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        conn = sqlite3.connect(path, isolation_level=None, timeout=30.0, check_same_thread=False)
        conn.execute("PRAGMA journal_mode=WAL")  # readers never block the ingest, nor it them
        conn.execute("PRAGMA synchronous=FULL")  # an ack follows the commit: it must be on disk
    except (OSError, sqlite3.Error) as exc:
        raise OpsError(f"--db {url}: cannot open the SQLite file {path}: {exc}") from exc
    return conn


def _connect_postgres(url: str, error: type[Exception]) -> Any:
    try:
        import psycopg
    except ImportError as exc:
        raise OpsError(
            "--db postgresql://...: psycopg is not installed (pip install 'omo-edge[central]')"
        ) from exc
    try:
        return psycopg.connect(url, connect_timeout=10)
    except psycopg.Error as exc:
        raise error(f"--db {_redacted(url)}: cannot connect: {exc}".strip()) from exc


def _redacted(url: str) -> str:
    parts = urlsplit(url)
    if parts.password:
        return url.replace(f":{parts.password}@", ":***@")
    return url


def _pg_errors() -> type[BaseException]:
    try:
        import psycopg
    except ImportError:
        return sqlite3.Error
    return psycopg.Error
