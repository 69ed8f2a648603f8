"""systemd unit files checked as systemd would check them."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path


def verify_units(folder: Path, units: list[Path]) -> list[str]:
    """`systemd-analyze verify` on `units`, their /opt/omo-edge/current/bin paths pointed at
    this venv (which has both `omo-edge` and `python`); the problems it reports about them."""
    names = []
    for unit in units:
        text = unit.read_text().replace(
            "/opt/omo-edge/current/bin/", f"{Path(sys.executable).parent}/"
        )
        (folder / unit.name).write_text(text)
        names.append(unit.name)
    out = subprocess.run(
        ["systemd-analyze", "verify", *(str(folder / n) for n in names)],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    return [
        line
        for line in (out.stdout + out.stderr).splitlines()
        if any(name in line for name in names)
    ]
