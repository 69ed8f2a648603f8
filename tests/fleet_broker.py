"""The fleet broker of docs/mosquitto/, rendered for a test: only paths, ports and user change."""

from __future__ import annotations

import os
import re
from pathlib import Path

FLEET_DOCS = Path(__file__).resolve().parent.parent / "docs" / "mosquitto"
FLEET_CONF = FLEET_DOCS / "fleet.conf"
FLEET_ACL = FLEET_DOCS / "omo-fleet.acl"
FLEET_INVENTORY = FLEET_DOCS / "devices.example"


def render_fleet_conf(
    *, port: int, central_port: int, files: dict[str, Path], workdir: Path
) -> str:
    """docs/mosquitto/fleet.conf with its paths replaced by `files` (keyed by the documented
    path), its listeners moved to free loopback ports and, as root, the service user to root
    (mosquitto cannot read a private temp dir as 'mosquitto'). Anything else is kept."""
    text = FLEET_CONF.read_text()
    swaps = {
        **{documented: str(real) for documented, real in files.items()},
        "/var/lib/mosquitto/": f"{workdir}/",
        "/var/log/mosquitto/mosquitto.log": str(workdir / "mosquitto.log"),
        "listener 8883\n": f"listener {port} 127.0.0.1\n",
        "listener 8884\n": f"listener {central_port} 127.0.0.1\n",
    }
    if os.geteuid() == 0:
        swaps["user mosquitto\n"] = "user root\n"
    for old, new in swaps.items():
        if old not in text:
            raise AssertionError(f"docs/mosquitto/fleet.conf no longer mentions {old!r}")
        text = text.replace(old, new)
    left = re.findall(r"(?m)^[^#\n]*\s(/(?:etc|var)/\S+)", text)
    if left:
        raise AssertionError(f"fleet.conf paths the test does not provide: {left}")
    return text
