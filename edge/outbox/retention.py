"""Retention: nothing about visitors is kept longer than it is useful (docs/data-protection.md).

Once an hour, with a synchronised clock (without one, the age of a record is
not known and nothing is judged by age; the outbox budgets still bound it):

- unsent events older than `[privacy] event_retention_days` are deleted and
  counted (`dropped.{type}`, `expired_total`); an unacknowledged batch goes
  only as a whole;
- remembered cmd_ids are forgotten a day after their command expired;
- corrupt outbox copies kept for forensics are deleted after the same
  number of days;
- expired cached decisions and cool-downs leave memory.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from edge.outbox.store import Outbox, StorageError
from edge.outbox.worker import OutboxThread
from edge.quiet import QuietLog

log = logging.getLogger(__name__)
DAY_MS = 86_400_000
SWEEP_EVERY_S = 3600.0


@dataclass(frozen=True)
class Swept:
    expired: dict[str, int] = field(default_factory=dict)
    commands: int = 0
    copies: int = 0


def corrupt_copies(outbox_path: Path) -> list[Path]:
    """Corrupt outbox files moved aside (with their -wal and -shm), which may hold events."""
    return sorted(outbox_path.parent.glob(outbox_path.name + ".corrupt-*"))


def remove(paths: list[Path]) -> int:
    removed = 0
    for path in paths:
        try:
            path.unlink()
            removed += 1
        except FileNotFoundError:
            pass
        except OSError as exc:
            log.warning("cannot delete %s: %s", path, exc)
    return removed


def sweep(outbox: Outbox, *, now_ms: int, synced: bool, retention_days: int) -> Swept:
    """One retention pass over the outbox and its folder (StorageError if it cannot write)."""
    if not synced:
        return Swept()
    before = now_ms - retention_days * DAY_MS
    expired = outbox.expire(before)
    commands = outbox.forget_commands(now_ms)
    stale = [p for p in corrupt_copies(outbox.path) if p.stat().st_mtime * 1000 < before]
    return Swept(expired, commands, remove(stale))


async def keep_retention(
    outbox: OutboxThread,
    *,
    retention_days: int,
    clock_synced: Callable[[], bool],
    prune_memory: Callable[[], None],
    every_s: float = SWEEP_EVERY_S,
) -> None:
    """Sweep now and every `every_s` for as long as the daemon runs."""
    quiet = QuietLog(log)
    while True:
        prune_memory()
        try:
            swept = await outbox.run(
                sweep,
                now_ms=int(time.time() * 1000),
                synced=clock_synced(),
                retention_days=retention_days,
            )
        except (StorageError, OSError) as exc:
            quiet.problem("retention", "retention sweep failed: %s; retrying later", exc)
        else:
            if swept.expired:
                log.warning(
                    "deleted %d unsent events older than %d days (retention): %s",
                    sum(swept.expired.values()),
                    retention_days,
                    ", ".join(f"{k} {v}" for k, v in sorted(swept.expired.items())),
                )
            if swept.copies:
                log.info("deleted %d corrupt outbox copies past retention", swept.copies)
        await asyncio.sleep(every_s)
