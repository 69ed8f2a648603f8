"""SD card wear: bytes the daemon writes per day at a busy store's rate.

A busy store: 200 visits an hour (each an approach.enter/exit pair, a visit.enter, a
dwell every 30 s, an exit), as many passers-by setting off the fast trigger (an
approach.enter/exit pair each: the trigger's false rate on the benchmark traces, about
one per true visit), 1,000 adverts a second (kept in memory: they write nothing), a
slide (an impression) every 10 s, every other one personal (the most fair airtime
allows, with its request, visitor and campaign), `device.health` every minute,
screenshots off. The day is simulated at speed in virtual time: the event timeline
goes through the same rules the daemon follows (edge/outbox/writer.py: commit when the
oldest held event has waited `max(group_ms, hold_s)` or a group is full;
edge/outbox/sync.py: after each commit, every batch is sent and acknowledged in turn)
onto the real `Outbox` (SQLite, persistent rollback journal, synchronous=FULL,
secure_delete). The kernel's write-back is played in virtual time too (`Writeback`,
`--writeback-s`): what is dirty reaches the card once it is 5 s old.

Measured where this machine allows it: at the block layer, with the state dir on a
loop-mounted ext4 file system (sectors written from /sys/block/loopN/stat, the ext4
journal included); else from /proc/self/io `write_bytes` (file data only: no file
system journal), saying which. Content downloads are counted separately (one 20 MB
asset written as the daemon writes assets), since they depend on what central sends.

Baseline: the same day with the first release's commit rule (`hold_s = 0`: the events
of each 50 ms committed together, a transaction each), in the same process on the same
file system and outbox. Goal: <= 50 MB/day for the daemon's own writes.

    sudo .venv/bin/python benchmarks/wear.py [--hours 3] [--writeback-s 5] [--try HOLD_S]
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import random
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from edge.config import Config
from edge.files import write_atomic
from edge.ids import new_id
from edge.outbox.store import Outbox

VISITS_PER_H = 200
FALSE_TRIGGERS_PER_VISIT = 1.0  # presence_accuracy.py: ~118 false triggers/h at 120 visits/h
TRIGGER_AFTER_S = 4.0  # approach.enter after arrival (the trigger's p50)
RELEASE_AFTER_S = 3.0  # approach.exit after leaving
DWELL_EVERY_S = 30.0
MEAN_VISIT_S = 60.0
SLIDE_S = 10.0
HEALTH_EVERY_S = 60.0
ACK_AFTER_S = 0.05
GOAL_MB_PER_DAY = 50.0
ASSET_BYTES = 20 * 1024 * 1024
WRITEBACK_S = 5.0  # ext4's default journal commit interval


@dataclass(frozen=True)
class Policy:
    name: str
    group_s: float
    group_max: int


def policies(extra: list[float] | None = None) -> list[Policy]:
    storage = Config().storage
    return [
        *(Policy(f"hold{hold:g}", hold, storage.group_max) for hold in extra or []),
        Policy("baseline", storage.group_ms / 1000, storage.group_max),
        Policy("defaults", max(storage.group_ms / 1000, storage.hold_s), storage.group_max),
    ]


# -- the store's day ----------------------------------------------------------------------
def _visitor(rng: random.Random) -> str:
    return "h1:" + "".join(rng.choice("0123456789abcdef") for _ in range(64))


def timeline(hours: float, seed: int = 7) -> list[tuple[float, dict[str, Any]]]:
    """(second of the day, event fields) for every event a busy store makes in `hours`."""
    rng = random.Random(seed)
    end = hours * 3600
    out: list[tuple[float, dict[str, Any]]] = []
    t = 0.0
    while True:
        t += rng.expovariate(VISITS_PER_H / 3600)
        if t >= end:
            break
        who, visit_id, stay = _visitor(rng), new_id(), rng.expovariate(1 / MEAN_VISIT_S)
        base = {"visitor": who, "visit_id": visit_id, "zone": "near", "rssi": -61}
        out.append((t + TRIGGER_AFTER_S, {"type": "approach.enter", **base}))
        since = 1_796_000_000_000 + int(t * 1000)
        out.append((t + min(stay, 10.0), {"type": "visit.enter", **base, "since": since}))
        for k in range(1, int(stay // DWELL_EVERY_S) + 1):
            out.append((t + k * DWELL_EVERY_S, {"type": "visit.dwell", **base}))
        out.append((t + stay, {"type": "visit.exit", **base, "dwell_ms": int(stay * 1000)}))
        out.append((t + stay + RELEASE_AFTER_S, {"type": "approach.exit", **base}))
    t = 0.0
    while True:  # passers-by who set off the trigger: an approach, never a visit
        t += rng.expovariate(FALSE_TRIGGERS_PER_VISIT * VISITS_PER_H / 3600)
        if t >= end:
            break
        base = {"visitor": _visitor(rng), "visit_id": new_id(), "zone": "near", "rssi": -66}
        out.append((t, {"type": "approach.enter", **base}))
        out.append((t + 5.0, {"type": "approach.exit", **base}))
    for k in range(int(end // SLIDE_S)):
        personal = k % 2 == 1  # the fair-airtime share at most: every other slide
        out.append(
            (
                k * SLIDE_S,
                {
                    "type": "impression",
                    "content_id": f"coupon-{k % 5}" if personal else f"slide-{k % 7}",
                    "campaign_id": "welcome-back-2026" if personal else None,
                    "variant": "A" if personal else None,
                    "request_id": new_id() if personal else None,
                    "visitor": _visitor(rng) if personal else None,
                    "shown_ms": int(SLIDE_S * 1000),
                },
            )
        )
    health = {f"figure_{n}": n * 1000 for n in range(40)}  # about the size of a real one
    for k in range(int(end // HEALTH_EVERY_S)):
        out.append((k * HEALTH_EVERY_S, {"type": "device.health", **health}))
    out.sort(key=lambda item: item[0])
    return [(t, e) for t, e in out if t < end]


def stamped(t: float, fields: dict[str, Any]) -> dict[str, Any]:
    return {"id": new_id(), "ts": 1_796_000_000_000 + int(t * 1000), "clock_synced": True, **fields}


# -- the daemon's rules in virtual time ----------------------------------------------------
class Writeback:
    """The kernel's writeback in virtual time. The day runs in seconds, so without this
    every transaction's side writes would merge into one flush at the end: the ext4
    journal commit of the files' new mtimes and the dirty pages of SQLite's mmapped
    `-shm` wal-index, which a real device writes for every quiet-separated transaction.
    Here everything dirty is flushed once it is `after_s` (virtual) old, as ext4's
    5 s journal commit does; transactions closer together share a flush, as they do."""

    def __init__(self, after_s: float | None) -> None:
        self.after_s = after_s
        self.dirty_since: float | None = None
        self.flushes = 0

    def wrote(self, now: float) -> None:
        if self.dirty_since is None:
            self.dirty_since = now

    def tick(self, now: float) -> None:
        """Flush what has been dirty `after_s` by `now` (called before anything at `now`)."""
        if self.after_s is None or self.dirty_since is None:
            return
        if now >= self.dirty_since + self.after_s:
            os.sync()
            self.flushes += 1
            self.dirty_since = None


def run_day(
    box: Outbox,
    policy: Policy,
    events: list[tuple[float, dict[str, Any]]],
    writeback: Writeback | None = None,
) -> int:
    """Feed the day through `policy`'s commit rule and the sync loop; returns transactions.

    After each commit every batch goes and is acknowledged `ACK_AFTER_S` later (central's
    round trip); the outbox writes an acknowledgement with its next transaction."""
    flush = writeback or Writeback(None)
    held: list[dict[str, Any]] = []
    due: float | None = None  # when the held events are committed
    transactions = 0

    def commit(now: float) -> None:
        nonlocal held, due, transactions
        flush.tick(now)
        box.append(held)
        transactions += 1
        flush.wrote(now)
        held, due = [], None
        while (batch := box.next_batch("wear-1")) is not None:
            box.ack(batch.batch_id)  # written with the next commit

    for now, fields in events:
        if due is not None and now >= due:
            commit(due)
        flush.tick(now)
        if not held:
            due = now + policy.group_s
        held.append(stamped(now, fields))
        if len(held) >= policy.group_max:
            commit(now)
    if held:
        commit(due or events[-1][0])
    return transactions + 1  # the close writes the last acknowledgements


# -- measuring -------------------------------------------------------------------------------
class Meter:
    """Bytes written, at the block layer (a loop device) or by this process."""

    def __init__(self, loop_device: str | None) -> None:
        self.loop = loop_device
        self.where = (
            f"block layer: /sys/block/{loop_device}/stat sectors written (ext4 journal included)"
            if loop_device
            else "/proc/self/io write_bytes (file data only; no file-system journal)"
        )

    def read(self) -> int:
        os.sync()
        if self.loop:
            fields = Path(f"/sys/block/{self.loop}/stat").read_text().split()
            return int(fields[6]) * 512
        for line in Path("/proc/self/io").read_text().splitlines():
            if line.startswith("write_bytes:"):
                return int(line.split()[1])
        return 0


@contextlib.contextmanager
def state_fs(tmp: Path) -> Iterator[tuple[Path, str | None]]:
    """A fresh ext4 on a loop device (needs root), or a folder on this disk."""
    image, mount = tmp / "sd.img", tmp / "sd"
    mount.mkdir()
    mounted = False
    if os.geteuid() == 0 and shutil.which("mkfs.ext4"):
        with open(image, "wb") as f:
            f.truncate(512 * 1024 * 1024)
        ok = subprocess.run(["mkfs.ext4", "-q", "-F", str(image)], check=False).returncode == 0
        mounted = (
            ok
            and subprocess.run(
                ["mount", "-o", "loop", str(image), str(mount)], check=False, capture_output=True
            ).returncode
            == 0
        )
    try:
        loop = None
        if mounted:
            source = subprocess.run(
                ["findmnt", "-n", "-o", "SOURCE", str(mount)],
                capture_output=True,
                text=True,
                check=True,
            ).stdout.strip()
            loop = Path(source).name
        yield mount, loop
    finally:
        if mounted:
            subprocess.run(["umount", str(mount)], check=False)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--hours", type=float, default=3.0, help="simulated hours (scaled to 24)")
    parser.add_argument(
        "--try",
        dest="tries",
        type=float,
        action="append",
        metavar="HOLD_S",
        help="also measure this hold_s",
    )
    parser.add_argument(
        "--writeback-s",
        type=float,
        default=WRITEBACK_S,
        help="flush what is dirty once it is this old in virtual time (0: only at the end)",
    )
    args = parser.parse_args()
    events = timeline(args.hours)
    counts: dict[str, int] = {}
    for _t, e in events:
        counts[e["type"]] = counts.get(e["type"], 0) + 1
    scale = 24 / args.hours
    print(f"a busy store for {args.hours:g} h (x{scale:g} for a day): {counts}")
    figures: dict[str, Any] = {"hours_simulated": args.hours, "events_per_day": len(events) * scale}
    with tempfile.TemporaryDirectory() as tmp, state_fs(Path(tmp)) as (folder, loop):
        meter = Meter(loop)
        print(f"measured at the {meter.where}")
        figures["measured_at"] = "block" if loop else "proc_io"
        figures["writeback_s"] = args.writeback_s
        for policy in policies(args.tries):
            state = folder / policy.name
            state.mkdir()
            before = meter.read()
            started = time.perf_counter()
            writeback = Writeback(args.writeback_s or None)
            with Outbox(state / "outbox.sqlite3") as box:
                transactions = run_day(box, policy, events, writeback)
                assert box.pending() == 0, "every event acknowledged by the end"
            written = meter.read() - before
            per_day_mb = written * scale / 1e6
            figures[f"{policy.name}_mb_per_day"] = round(per_day_mb, 1)
            figures[f"{policy.name}_transactions_per_day"] = round(transactions * scale)
            figures[f"{policy.name}_flushes_per_day"] = round(writeback.flushes * scale)
            print(
                f"{policy.name:<9} commit after {policy.group_s:g} s: "
                f"{transactions * scale:,.0f} transactions/day, "
                f"{writeback.flushes * scale:,.0f} flushes/day, {per_day_mb:,.1f} MB/day "
                f"({written / max(1, len(events)):,.0f} B/event; "
                f"ran {time.perf_counter() - started:.1f} s)"
            )
        before = meter.read()
        content = folder / "content"
        content.mkdir()
        write_atomic(content / "asset.bin", os.urandom(ASSET_BYTES), mode=0o600)
        asset_mb = (meter.read() - before) / 1e6
    figures["content_mb_per_20mb_asset"] = round(asset_mb, 1)
    ratio = figures["baseline_mb_per_day"] / max(0.001, figures["defaults_mb_per_day"])
    figures["baseline_over_defaults"] = round(ratio, 1)
    figures["goal_mb_per_day"] = GOAL_MB_PER_DAY
    figures["goal_met"] = figures["defaults_mb_per_day"] <= GOAL_MB_PER_DAY
    print(
        f"defaults write {ratio:.1f}x less than the baseline; goal <= {GOAL_MB_PER_DAY:g} MB/day: "
        f"{'met' if figures['goal_met'] else 'MISSED'}; content: {asset_mb:.1f} MB per 20 MB asset"
    )
    print(json.dumps(figures))


if __name__ == "__main__":
    main()
