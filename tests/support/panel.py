"""Fakes of what a panel needs from the system: `cec-ctl` and a DRM sysfs tree."""

from __future__ import annotations

import stat
import sys
from pathlib import Path

CONNECTOR = "card0-HDMI-A-1"

_CEC_CTL = """#!{python}
# A stand-in for v4l-utils' cec-ctl: logs its arguments, answers as a TV would.
import sys
args = sys.argv[1:]
with open({log!r}, "a") as log:
    log.write(" ".join(args) + "\\n")
if {fail!r} and "--standby" in args:
    print("cec-ctl: transmit failed: no acknowledgement", file=sys.stderr)
    sys.exit(1)
if "--give-device-power-status" in args:
    print("Received from TV (0):\\n    REPORT_POWER_STATUS (0x90):\\n        pwr-state: on (0x00)")
"""


class FakeCec:
    """A `cec-ctl` in `folder` that logs each call; `calls()` lists them."""

    def __init__(self, folder: Path, *, fail_standby: bool = False) -> None:
        folder.mkdir(parents=True, exist_ok=True)
        self.log = folder / "cec-ctl.log"
        self.program = folder / "cec-ctl"
        self.device = folder / "cec0"
        self.device.touch()
        self.program.write_text(
            _CEC_CTL.format(python=sys.executable, log=str(self.log), fail=fail_standby)
        )
        self.program.chmod(self.program.stat().st_mode | stat.S_IXUSR)

    def calls(self) -> list[str]:
        return self.log.read_text().splitlines() if self.log.exists() else []

    def sent(self, what: str) -> int:
        return sum(1 for call in self.calls() if what in call.split())


class FakeDrm:
    """`root/class/drm/card0-HDMI-A-1/status` and friends, as sysfs shows them."""

    def __init__(self, root: Path, status: str = "connected") -> None:
        self.root = root
        self.folder = root / "class" / "drm" / CONNECTOR
        self.folder.mkdir(parents=True)
        (root / "class" / "drm" / "card0").mkdir()  # the card itself has no status
        other = root / "class" / "drm" / "card0-Writeback-1"
        other.mkdir()
        (other / "status").write_text("unknown\n")
        self.plug(status == "connected")

    def plug(self, connected: bool) -> None:
        (self.folder / "status").write_text("connected\n" if connected else "disconnected\n")
