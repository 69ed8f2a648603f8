"""Figures about the machine the device runs on: disk, temperature, memory, clock.

Shared by the daemon's `device.health` events and `omo-edge doctor`. Each reader
returns None (or leaves a figure out) when the machine does not offer it: a
container has no thermal zone, a non-Linux box no /proc.
"""

from __future__ import annotations

import os
import resource
from dataclasses import dataclass
from pathlib import Path

THERMAL_DIR = Path("/sys/class/thermal")
PROC = Path("/proc")


@dataclass(frozen=True, slots=True)
class DiskSpace:
    free_bytes: int  # what this user may still write (reserved blocks excluded)
    total_bytes: int

    @property
    def free_pct(self) -> float:
        return 100.0 * self.free_bytes / self.total_bytes if self.total_bytes else 0.0


def existing_ancestor(path: Path) -> Path:
    """`path` or its nearest existing parent: the filesystem a folder to be made will be on."""
    path = path.absolute()
    while not path.exists() and path != path.parent:
        path = path.parent
    return path


def disk_space(path: Path) -> DiskSpace:
    st = os.statvfs(existing_ancestor(path))
    return DiskSpace(st.f_bavail * st.f_frsize, st.f_blocks * st.f_frsize)


def cpu_temperature_c(thermal_dir: Path = THERMAL_DIR) -> float | None:
    """The hottest thermal zone in °C (on a Pi, zone 0 is the SoC); None if there is none."""
    readings = []
    for zone in thermal_dir.glob("thermal_zone*/temp"):
        try:
            readings.append(int(zone.read_text().strip()) / 1000)
        except (OSError, ValueError):
            continue
    return max(readings) if readings else None


def parse_meminfo(text: str) -> dict[str, int]:
    """/proc/meminfo as bytes by field name (`MemAvailable: 123 kB` -> 125952)."""
    out: dict[str, int] = {}
    for line in text.splitlines():
        name, _, rest = line.partition(":")
        parts = rest.split()
        if parts and parts[0].isdigit():
            scale = 1024 if parts[1:] == ["kB"] else 1
            out[name.strip()] = int(parts[0]) * scale
    return out


def memory_available_bytes(proc: Path = PROC) -> int | None:
    try:
        return parse_meminfo((proc / "meminfo").read_text()).get("MemAvailable")
    except OSError:
        return None


def process_rss_bytes(proc: Path = PROC) -> int | None:
    """This process's resident memory now (/proc/self/statm), not its peak."""
    try:
        resident_pages = int((proc / "self" / "statm").read_text().split()[1])
    except (OSError, ValueError, IndexError):
        return None
    return resident_pages * resource.getpagesize()


class FrameRate:
    """Frames per second over the time since the last reading (the health interval)."""

    def __init__(self, frames: int, now: float) -> None:
        self._frames, self._at = frames, now

    def update(self, frames: int, now: float) -> float:
        elapsed = now - self._at
        fps = (frames - self._frames) / elapsed if elapsed > 0 else 0.0
        self._frames, self._at = frames, now
        return round(fps, 1)


def system_fields(state_dir: Path) -> dict[str, int | float]:
    """The machine's part of a `device.health` event; figures it cannot read are left out.

    Clock sync is not here: every event already carries `clock_synced`.
    """
    disk = disk_space(state_dir)
    fields: dict[str, int | float] = {
        "disk_free_bytes": disk.free_bytes,
        "disk_free_pct": round(disk.free_pct, 1),
    }
    optional = {
        "cpu_temp_c": cpu_temperature_c(),
        "memory_rss_bytes": process_rss_bytes(),
        "memory_available_bytes": memory_available_bytes(),
    }
    fields.update({k: v for k, v in optional.items() if v is not None})
    return fields
