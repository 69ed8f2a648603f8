"""The panel override, one small file in the state dir shared by `omo-edge display` (store
staff, on the device) and the `display` command (central): both write it, the daemon reads
it every few seconds, and it survives a restart, so "off for 2 h" means 2 hours."""

from __future__ import annotations

import json
import os
from pathlib import Path

from edge.files import write_atomic
from edge.panel.schedule import Override

FILE = "display-override.json"


def path(state_dir: Path) -> Path:
    return state_dir / FILE


def read(state_dir: Path) -> Override | None:
    """The override in force (None: none, or a file that cannot be read, which is ignored)."""
    try:
        body = json.loads(path(state_dir).read_text())
        power = body["power"]
        until = body.get("until_ms")
    except (OSError, ValueError, KeyError, TypeError):
        return None
    if power not in ("on", "off") or not (until is None or isinstance(until, int)):
        return None
    return Override(power, until)


def write(state_dir: Path, override: Override | None) -> None:
    """Set (or with None clear: back to the schedule) the override. Readable by the daemon
    whoever writes it (root with sudo, or the service user)."""
    target = path(state_dir)
    if override is None:
        target.unlink(missing_ok=True)
        return
    body = {"power": override.power, "until_ms": override.until_ms}
    write_atomic(target, json.dumps(body).encode(), mode=0o644)
    stat = state_dir.stat()
    if os.geteuid() == 0 and (stat.st_uid, stat.st_gid) != (0, 0):
        os.chown(target, stat.st_uid, stat.st_gid)  # the daemon may replace it later


def stamp(state_dir: Path) -> float | None:
    """When the file last changed (None: no override), to notice a new one cheaply."""
    try:
        return path(state_dir).stat().st_mtime_ns / 1e9
    except OSError:
        return None
