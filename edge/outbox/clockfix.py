"""Honest timestamps: events stamped before the clock was synchronised, corrected once it is.

A Pi has no real-time clock: until NTP answers, `time.time()` is whatever
fake-hwclock saved (or 1970). An event recorded then keeps, beside its wrong `ts`,
the two things that stay true: the kernel's boot id and the milliseconds since
boot (`CLOCK_BOOTTIME`, which never jumps). When synchronisation arrives, the
true time of such an event is `mono_ms + offset_ms`, where `offset_ms` is the
synchronised wall clock minus the boot clock at that moment.

- Events still waiting in the outbox (not yet in a batch) get that `ts` and
  `clock_corrected: true`. `clock_synced` stays false: it says what the clock
  was when the event was taken.
- A batch already sent is never changed (a resent batch keeps its exact events);
  instead the device records `clock.corrected` with the boot id and the offset,
  and central corrects the events it holds from that boot the same way.
- Sending never waits for synchronisation: some stores firewall NTP.

Events of an earlier boot cannot be corrected (their boot clock is gone); they
keep `clock_synced: false` and their boot id, which is the truth.

The functions here are pure (plain dicts in and out); `correct_rows` applies them
to the outbox inside the caller's transaction.
"""

from __future__ import annotations

import sqlite3
import time
from collections.abc import Collection, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from edge.outbox import packing
from edge.outbox.rows import bump, replace_batch, stored

RECHECK_S = 5.0
"""How often the daemon looks whether the clock has synchronised."""
BOOT_ID_FILE = Path("/proc/sys/kernel/random/boot_id")


def boot_id(path: Path = BOOT_ID_FILE) -> str:
    """The kernel's id of this boot (a UUID), or "unknown" where there is none."""
    try:
        return path.read_text().strip() or "unknown"
    except OSError:
        return "unknown"


def boot_ms() -> int:
    """Milliseconds since boot, suspend included: the clock that never jumps."""
    clock = getattr(time, "CLOCK_BOOTTIME", time.CLOCK_MONOTONIC)
    return int(time.clock_gettime(clock) * 1000)


@dataclass(frozen=True, slots=True)
class Clocks:
    """One reading of every clock an event is stamped with."""

    wall_ms: int
    synced: bool
    boot_id: str
    boot_ms: int


def stamp(clocks: Clocks) -> dict[str, Any]:
    """An event's time fields: `ts` and `clock_synced`, and while the clock is not
    synchronised also `boot_id` and `mono_ms`, so it can be corrected later."""
    fields: dict[str, Any] = {"ts": max(0, clocks.wall_ms), "clock_synced": clocks.synced}
    if not clocks.synced:
        fields.update(boot_id=clocks.boot_id, mono_ms=clocks.boot_ms)
    return fields


def offset_ms(clocks: Clocks) -> int:
    """Wall clock minus boot clock: a boot-clock reading plus this is wall time."""
    return clocks.wall_ms - clocks.boot_ms


def correctable(event: Mapping[str, Any], boot: str) -> bool:
    """Whether `event` was stamped on an unsynchronised clock during boot `boot` and has
    not been corrected yet."""
    return (
        event.get("clock_synced") is False
        and event.get("boot_id") == boot
        and isinstance(event.get("mono_ms"), int)
        and not event.get("clock_corrected")
    )


def corrected(event: Mapping[str, Any], boot: str, offset: int) -> dict[str, Any] | None:
    """`event` with its true `ts` (`mono_ms + offset`) and `clock_corrected: true`, or None
    when it needs no correction (synchronised, corrected already, or another boot's)."""
    if not correctable(event, boot):
        return None
    return {**event, "ts": max(0, int(event["mono_ms"]) + offset), "clock_corrected": True}


def correct_rows(conn: sqlite3.Connection, boot: str, offset: int, sent: Collection[str]) -> int:
    """Correct every event of boot `boot` in a batch not sent yet (inside the caller's
    transaction); returns how many. A batch that may have been sent is never touched;
    a corrected one goes under a new batch id."""
    changed = 0
    for batch in stored(conn, sent, "unsynced > 0", unsent_only=True):
        fixed = [corrected(e, boot, offset) for e in batch.events]
        if not any(fixed):
            continue
        texts = [
            t if f is None else packing.text(f) for t, f in zip(batch.texts, fixed, strict=True)
        ]
        replace_batch(conn, batch.seq, texts)
        changed += sum(f is not None for f in fixed)
    if changed:
        bump(conn, "clock_corrected_total", changed)
    return changed
