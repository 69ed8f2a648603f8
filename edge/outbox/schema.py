"""The outbox's SQLite file: opening it durably, its schema and migrations, a corrupt
file set aside, and the running totals kept in the `counters` table.

Why these pragmas (benchmarks/wear.py measured each; docs/deployment.md "SD card wear"):
- a rollback journal kept between transactions (`journal_mode=PERSIST`), not WAL:
  WAL's `-shm` wal-index is a memory-mapped file whose pages the kernel writes back
  after every transaction, and readers (`omo-edge outbox status`, doctor) still open
  the file beside the daemon; the journal keeps its blocks, so a commit changes no
  file's size (`journal_size_limit` trims it after an unusually large one);
- synchronous=FULL, so a power cut (a Pi's everyday failure) cannot take back a
  committed transaction;
- secure_delete, so deleted events are overwritten rather than left in free pages;
- 512-byte pages, because every commit writes each page it touches twice (journal
  and file): 1, 2 and 4 KiB pages measured 48, 53 and 55 MB/day against 44. An
  outbox of an earlier release is rewritten with them when it opens, if it is small
  (as it is when central keeps up); a large one keeps its pages.
"""

from __future__ import annotations

import sqlite3
import time
from collections.abc import Callable
from pathlib import Path

import sqlite_utils

from edge.outbox import packing
from edge.outbox.rows import BATCHES, insert_batch

PAGE_SIZE = 512
RESIZE_UP_TO = 16 * 1024 * 1024  # an older file this small is rewritten with PAGE_SIZE pages
JOURNAL_LIMIT = 1024 * 1024
DEFAULT_BATCH = (200, 64_000)  # [sync] batch_max_events, batch_max_bytes

Migration = str | Callable[[sqlite3.Connection], None]


def rows_from_events(conn: sqlite3.Connection) -> None:
    """Schema 6: the event rows of schema 5 become one row per batch. A batch in flight
    keeps its id and events (a resend is the same batch); the queued events are cut into
    batches of the default size, oldest first."""
    conn.execute("ALTER TABLE batches RENAME TO ranges")
    conn.execute(BATCHES)
    for batch_id, first, last in conn.execute(
        "SELECT batch_id, first_seq, last_seq FROM ranges ORDER BY first_seq"
    ).fetchall():
        texts = [
            r[0]
            for r in conn.execute(
                "SELECT body FROM events WHERE seq BETWEEN ? AND ? ORDER BY seq", [first, last]
            )
        ]
        if texts:
            insert_batch(conn, texts, offered=True, batch_id=batch_id)
    queued = [
        r[0]
        for r in conn.execute(
            "SELECT body FROM events WHERE seq > (SELECT COALESCE(MAX(last_seq), 0) FROM ranges)"
            " ORDER BY seq"
        )
    ]
    for texts in packing.batches(queued, *DEFAULT_BATCH):
        insert_batch(conn, texts)
    conn.execute("DROP TABLE ranges")
    conn.execute("DROP TABLE events")


# Numbered migrations: index + 1 = schema version after applying it. Append only.
MIGRATIONS: tuple[Migration, ...] = (
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
    # One row per batch, its events compressed (packing.py): see `rows_from_events`.
    rows_from_events,
)


def open_database(path: Path) -> sqlite_utils.Database:
    """`path` opened with the pragmas above, checked and migrated to the newest schema.

    Raises sqlite3.DatabaseError (see `is_corrupt`) with the connection closed.
    """
    conn = sqlite3.connect(path, isolation_level=None, check_same_thread=False, timeout=10)
    try:
        db = sqlite_utils.Database(conn)
        db.execute(f"PRAGMA page_size={PAGE_SIZE}")  # only a new file takes it
        db.execute("PRAGMA journal_mode=PERSIST")  # an outbox of an earlier release: from WAL
        db.execute(f"PRAGMA journal_size_limit={JOURNAL_LIMIT}")
        db.execute("PRAGMA synchronous=FULL")
        db.execute("PRAGMA secure_delete=ON")
        check = db.execute("PRAGMA quick_check(1)").fetchone()[0]
        if check != "ok":
            raise sqlite3.DatabaseError(f"database disk image is malformed ({check})")
        migrate(conn)
        resize(conn, path)
    except sqlite3.DatabaseError:
        conn.close()
        raise
    return db


def resize(conn: sqlite3.Connection, path: Path) -> None:
    """Rewrite a small file of an earlier release with PAGE_SIZE pages (VACUUM)."""
    if int(conn.execute("PRAGMA page_size").fetchone()[0]) == PAGE_SIZE:
        return
    if path.stat().st_size > RESIZE_UP_TO:
        return
    conn.execute(f"PRAGMA page_size={PAGE_SIZE}")
    conn.execute("VACUUM")


CURRENT = (
    BATCHES,
    "CREATE TABLE counters (name TEXT PRIMARY KEY, value INTEGER NOT NULL)",
    "CREATE TABLE commands (cmd_id TEXT PRIMARY KEY, ts INTEGER NOT NULL, expires_ts INTEGER)",
)
"""A new file's schema: what MIGRATIONS make, without the tables they made and dropped."""


def migrate(conn: sqlite3.Connection) -> None:
    """Make a new file's schema, or apply the migrations not yet applied to an older one,
    each in its own transaction."""
    version = int(conn.execute("PRAGMA user_version").fetchone()[0])
    if version == 0 and not conn.execute("SELECT 1 FROM sqlite_master LIMIT 1").fetchone():
        with conn:
            conn.execute("BEGIN IMMEDIATE")
            for statement in CURRENT:
                conn.execute(statement)
            conn.execute(f"PRAGMA user_version={len(MIGRATIONS)}")
        return
    for number, script in enumerate(MIGRATIONS[version:], start=version + 1):
        with conn:
            conn.execute("BEGIN IMMEDIATE")
            if callable(script):
                script(conn)
            else:
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
    for suffix in ("", "-journal", "-wal", "-shm"):
        part = Path(str(path) + suffix)
        if part.exists():
            part.rename(Path(str(aside) + suffix))
    return aside
