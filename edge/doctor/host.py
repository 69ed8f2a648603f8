"""Doctor checks of this machine: config, state dir, free disk, clock and outbox backlog.

The verdicts are pure functions of what was read; `check_config`, `private_key_files`
and `check_outbox` read the file system.
"""

from __future__ import annotations

import contextlib
import os
import stat
import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from edge import config as config_mod
from edge.doctor.findings import Finding
from edge.errors import EdgeError
from edge.files import readable_by_others
from edge.health import DiskSpace, existing_ancestor

DISK_FAIL_BYTES = 50 * 1024 * 1024
DISK_FAIL_PCT = 5.0
DISK_WARN_PCT = 20.0
BACKLOG_WARN_EVENTS = 10_000
BACKLOG_WARN_AGE_S = 3600


# -- config and state dir -------------------------------------------------------------
def check_config(path: Path | None) -> tuple[list[Finding], config_mod.Config | None]:
    try:
        cfg = config_mod.load(path)
    except EdgeError as exc:
        return [
            Finding(
                "FAIL",
                "config",
                str(exc),
                "correct the config file (config/edge.example.toml lists every key)",
            )
        ], None
    if path is None:  # not the service's config: say so before every later line depends on it
        found = [
            Finding(
                "WARN",
                "config",
                cfg.describe(),
                "give the service's config: --config /etc/omo-edge/edge.toml",
            )
        ]
    else:
        found = [Finding("OK", "config", f"{path} loads and is valid; state in {cfg.state_dir}")]
    found += [
        Finding("WARN", "config", w, "remove or correct it (a misspelt key is ignored)")
        for w in cfg.warnings
    ]
    return found, cfg


def private_key_files(cfg: config_mod.Config) -> list[Path]:
    """The configured TLS key and every PEM private key lying in the state dir."""
    keys = [Path(cfg.mqtt.tls_key)] if cfg.mqtt.tls_key else []
    state = cfg.state_dir
    if state.is_dir():
        for path in sorted(state.glob("*.pem")) + sorted(state.glob("*.key")):
            with contextlib.suppress(OSError):
                if b"PRIVATE KEY" in path.read_bytes()[:4096] and path not in keys:
                    keys.append(path)
    return keys


def check_state_dir(state_dir: Path, key_files: Sequence[Path]) -> list[Finding]:
    name = "state dir"
    if not state_dir.exists():
        parent = existing_ancestor(state_dir)
        if os.access(parent, os.W_OK | os.X_OK):
            return [
                Finding(
                    "WARN",
                    name,
                    f"{state_dir} does not exist yet",
                    f"start the daemon once (it creates it), or: install -d -m 700 {state_dir}",
                )
            ]
        return [
            Finding(
                "FAIL",
                name,
                f"{state_dir} does not exist and {parent} is not writable by this user",
                f"create it for the service user: install -d -m 700 -o omo-edge {state_dir}",
            )
        ]
    if not state_dir.is_dir():
        return [Finding("FAIL", name, f"{state_dir} is not a folder", "remove it or fix the path")]
    found: list[Finding] = []
    mode = stat.S_IMODE(state_dir.stat().st_mode)
    if not os.access(state_dir, os.W_OK | os.X_OK):
        found.append(
            Finding(
                "FAIL",
                name,
                f"{state_dir} is not writable by this user (uid {os.getuid()})",
                f"give it to the service user: chown -R omo-edge: {state_dir}",
            )
        )
    if mode & 0o022:
        found.append(
            Finding(
                "FAIL",
                name,
                f"{state_dir} can be written by other users (mode {mode:o})",
                f"chmod 700 {state_dir}",
            )
        )
    elif mode & 0o077:
        found.append(
            Finding(
                "WARN",
                name,
                f"{state_dir} can be read by other users (mode {mode:o}); it holds visitor "
                "events and keys",
                f"chmod 700 {state_dir}",
            )
        )
    for key in key_files:
        with contextlib.suppress(FileNotFoundError):  # a missing key is the TLS check's
            if readable_by_others(key):
                found.append(
                    Finding(
                        "FAIL",
                        name,
                        f"private key {key} can be read by other users",
                        f"chmod 600 {key}",
                    )
                )
    if not found:
        keys = f", {len(key_files)} private key file(s) private" if key_files else ""
        found.append(Finding("OK", name, f"{state_dir} writable and private (mode {mode:o}){keys}"))
    return found


# -- disk, clock, outbox ----------------------------------------------------------------
def _size(n: float) -> str:
    for unit in ("B", "KB", "MB", "GB"):
        if n < 1000 or unit == "GB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1000
    return f"{n:.1f} GB"


def disk_verdict(space: DiskSpace, where: Path) -> Finding:
    found = (
        f"{_size(space.free_bytes)} free of {_size(space.total_bytes)} "
        f"({space.free_pct:.0f}%) on the filesystem of {where}"
    )
    if space.free_bytes < DISK_FAIL_BYTES or space.free_pct < DISK_FAIL_PCT:
        return Finding(
            "FAIL",
            "disk",
            found,
            "free space now: new events wait in memory only and are lost at the next "
            "restart; remove old files or logs (journalctl --vacuum-size=100M) or use a "
            "larger card",
        )
    if space.free_pct < DISK_WARN_PCT:
        return Finding("WARN", "disk", found, "free some space before it runs out")
    return Finding("OK", "disk", found)


def clock_verdict(synced: bool) -> Finding:
    if synced:
        return Finding("OK", "clock", "synchronised (NTP)")
    return Finding(
        "WARN",
        "clock",
        "not synchronised: events are marked clock_synced=false and expiry dates cannot "
        "be judged exactly",
        "check `timedatectl status` and that the device can reach an NTP server (UDP 123)",
    )


def backlog_verdict(status: Mapping[str, Any], now_ms: int, max_events: int) -> Finding:
    """The outbox: events not yet acknowledged by central, and how old the oldest is."""
    waiting = int(status["pending"]) + int(status["inflight"])
    oldest = status["oldest_pending_ts"]
    age_s = max(0.0, (now_ms - int(oldest)) / 1000) if oldest is not None else 0.0
    dropped = sum(status["dropped"].values())
    found = f"{waiting} events waiting for central"
    if waiting:
        found += f", the oldest {_age(age_s)} old"
    if dropped:
        found += f"; {dropped} dropped by the storage budget so far"
    near_budget = max_events and waiting >= 0.8 * max_events
    if near_budget or waiting >= BACKLOG_WARN_EVENTS or age_s >= BACKLOG_WARN_AGE_S:
        todo = "events are not reaching central: check the broker line and that central "
        todo += "acknowledges them (`omo-edge outbox drain` pushes them by hand)"
        if near_budget:
            todo += "; near [storage] max_events, beyond it the oldest events are dropped"
        return Finding("WARN", "outbox", found, todo)
    return Finding("OK", "outbox", found)


def _age(seconds: float) -> str:
    if seconds < 120:
        return f"{seconds:.0f} s"
    if seconds < 7200:
        return f"{seconds / 60:.0f} min"
    if seconds < 172_800:
        return f"{seconds / 3600:.0f} h"
    return f"{seconds / 86400:.0f} days"


def check_outbox(cfg: config_mod.Config) -> Finding:
    from edge.outbox.store import Outbox

    path = Path(cfg.storage.path)
    if not path.exists():
        return Finding("OK", "outbox", f"no outbox at {path} yet (the daemon makes it)")
    try:
        with Outbox(path) as outbox:
            status = outbox.status()
    except Exception as exc:  # any failure to read it is the finding
        return Finding(
            "FAIL",
            "outbox",
            f"cannot read the outbox {path}: {exc}",
            "check the file's owner and permissions; `omo-edge outbox export` saves its events",
        )
    return backlog_verdict(status, int(time.time() * 1000), cfg.storage.max_events)
