"""Is a display plugged in? The DRM connectors' hot-plug status in sysfs.

`/sys/class/drm/card0-HDMI-A-1/status` says `connected` or `disconnected` (`unknown` for
some). The sysfs root is configurable (`[panel] sysfs_root`) so tests use a fake tree.
A TV in standby often drops hot-plug detect, so a disconnected connector means
something only while the panel should be on (edge/panel/service.py).
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Literal

Connection = Literal["connected", "disconnected", "unknown"]


def read_connectors(sysfs_root: Path) -> dict[str, str]:
    """Connector name (`card0-HDMI-A-1`) -> its status, for every connector with one."""
    found: dict[str, str] = {}
    for status in sorted((sysfs_root / "class" / "drm").glob("card*-*/status")):
        try:
            found[status.parent.name] = status.read_text().strip()
        except OSError:
            continue
    return found


def connection(statuses: Mapping[str, str]) -> Connection:
    """`connected` if any connector is, `disconnected` if some say so and none is
    connected, else `unknown` (no DRM here; writeback connectors only say `unknown`)."""
    values = set(statuses.values())
    if "connected" in values:
        return "connected"
    if "disconnected" in values:
        return "disconnected"
    return "unknown"


def connected_names(statuses: Mapping[str, str]) -> list[str]:
    return [name for name, status in statuses.items() if status == "connected"]
