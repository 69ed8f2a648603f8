"""The outbox's SQLite file: opening it durably, its schema and migrations, a corrupt
file set aside, and the running totals kept in the `counters` table.

Why these pragmas: WAL lets readers (status, export) run beside the writer;
synchronous=FULL, because in WAL mode NORMAL syncs only at checkpoints, so a
power cut (a Pi's everyday failure) could lose committed transactions;
secure_delete, so deleted events are overwritten rather than left in free pages;
1 KiB pages (a new file only: an existing one keeps its size), because every commit
writes each page it touches to the WAL, and an event row is a few hundred bytes: with
4 KiB pages a commit of a few events wrote 60 KB to the SD card, with 1 KiB pages
under 40 KB (benchmarks/wear.py).
"""

from __future__ import annotations

import sqlite3
import time
from pathlib import Path

import sqlite_utils

PAGE_SIZE = 1024

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
    # Batch membership as a seq range in its own table (`batches`), so making a batch and
    # acknowledging it no longer rewrites every event row and two indexes (SD card wear,
    # benchmarks/wear.py). A batch in flight is kept only where its range holds exactly its
    # own events; any other batch is dissolved, its events queued again (a batch id is
    # never resent with different events; central de-duplicates by event id).
    """
    CREATE TABLE batches (
        batch_id TEXT PRIMARY KEY,
        first_seq INTEGER NOT NULL,
        last_seq INTEGER NOT NULL
    ) WITHOUT ROWID;
    INSERT INTO batches(batch_id, first_seq, last_seq)
        SELECT batch_id, MIN(seq), MAX(seq) FROM events
        WHERE batch_id IS NOT NULL GROUP BY batch_id;
    DELETE FROM batches WHERE EXISTS (
        SELECT 1 FROM events WHERE events.seq BETWEEN batches.first_seq AND batches.last_seq
        AND (events.batch_id IS NULL OR events.batch_id != batches.batch_id)
    );
    DROP INDEX events_batch_seq;
    DROP INDEX events_type_seq;
    ALTER TABLE events DROP COLUMN batch_id;
    CREATE INDEX events_type_seq ON events (type, seq);
    """,
)

UNBATCHED = "seq > (SELECT COALESCE(MAX(last_seq), 0) FROM batches)"
"""SQL: the event is in no batch (batches are taken oldest first, one range at a time)."""


def open_database(path: Path) -> sqlite_utils.Database:
    """`path` opened with the pragmas above, checked and migrated to the newest schema.

    Raises sqlite3.DatabaseError (see `is_corrupt`) with the connection closed.
    """
    conn = sqlite3.connect(path, isolation_level=None, check_same_thread=False, timeout=10)
    try:
        db = sqlite_utils.Database(conn)
        db.execute(f"PRAGMA page_size={PAGE_SIZE}")  # before WAL: only a new file takes it
        db.execute("PRAGMA journal_mode=WAL")
        db.execute("PRAGMA synchronous=FULL")
        db.execute("PRAGMA secure_delete=ON")
        check = db.execute("PRAGMA quick_check(1)").fetchone()[0]
        if check != "ok":
            raise sqlite3.DatabaseError(f"database disk image is malformed ({check})")
        migrate(conn)
    except sqlite3.DatabaseError:
        conn.close()
        raise
    return db


def migrate(conn: sqlite3.Connection) -> None:
    """Apply the migrations not yet applied, each in its own transaction."""
    version = int(conn.execute("PRAGMA user_version").fetchone()[0])
    for number, script in enumerate(MIGRATIONS[version:], start=version + 1):
        with conn:
            conn.execute("BEGIN IMMEDIATE")
            for statement in filter(str.strip, script.split(";")):
                conn.execute(statement)
            conn.execute(f"PRAGMA user_version={number}")


def is_corrupt(exc: sqlite3.DatabaseError) -> bool:
    """Does `exc` say the file is damaged (rather than locked, read-only or full)?"""
    text = str(exc).lower()
    return "malformed" in text or "not a database" in text or "corrupt" in text


def move_aside(path: Path) -> Path:
    """Rename a corrupt database (and its WAL and shared memory) to a timestamped name,
    kept for forensics; never over an earlier copy. Returns the new name."""
    stamp = time.strftime("%Y%m%dT%H%M%S")
    aside = path.with_name(f"{path.name}.corrupt-{stamp}")
    n = 1
    while aside.exists():
        aside = path.with_name(f"{path.name}.corrupt-{stamp}-{n}")
        n += 1
    for suffix in ("", "-wal", "-shm"):
        part = Path(str(path) + suffix)
        if part.exists():
            part.rename(Path(str(aside) + suffix))
    return aside


def bump(conn: sqlite3.Connection, name: str, by: int) -> None:
    """Add `by` to counter `name` (inside the caller's transaction)."""
    conn.execute(
        "INSERT INTO counters(name, value) VALUES (?, ?) "
        "ON CONFLICT(name) DO UPDATE SET value = value + excluded.value",
        [name, by],
    )


def totals(conn: sqlite3.Connection) -> tuple[int, int]:
    """Events stored and their bytes, from the running totals."""
    got = dict(
        conn.execute(
            "SELECT name, value FROM counters WHERE name IN ('stored_rows', 'stored_bytes')"
        ).fetchall()
    )
    return int(got.get("stored_rows", 0)), int(got.get("stored_bytes", 0))


def forget_rows(conn: sqlite3.Connection, victims: list[tuple[int, str, int]]) -> dict[str, int]:
    """Delete `victims` (seq, type, size) and take them off the totals; returns them by type."""
    conn.executemany("DELETE FROM events WHERE seq = ?", [(v[0],) for v in victims])
    by_type: dict[str, int] = {}
    for _seq, kind, _size in victims:
        by_type[kind] = by_type.get(kind, 0) + 1
    bump(conn, "stored_rows", -len(victims))
    bump(conn, "stored_bytes", -sum(v[2] for v in victims))
    return by_type
