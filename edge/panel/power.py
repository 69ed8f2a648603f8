"""Putting the panel really in standby, not showing a black picture.

What works on Raspberry Pi OS Bookworm (KMS, `vc4-kms-v3d`):

- **HDMI-CEC** (`cec`): the kernel's CEC adapter `/dev/cec0` (vc4's HDMI CEC) driven
  with `cec-ctl` from v4l-utils: `--standby` to the TV (logical address 0) and
  `--image-view-on` to wake it. The TV really goes into standby. Needs a TV that has CEC
  switched on (Anynet+, Bravia Sync, SimpLink ...) and answers; detection asks it for
  its power status. The unit's `DeviceAllow` must include the CEC device.
- **DPMS** (`dpms`): the render thread releases the screen (closing SDL's DRM device
  drops DRM master), then blanks the kernel's framebuffer console with FBIOBLANK
  `FB_BLANK_POWERDOWN`; the DRM driver's fbdev emulation turns that into DPMS off on the
  connector, so the HDMI signal stops. Many TVs answer with a "no signal" banner for a
  while before they sleep; monitors sleep at once. Waking is the reverse.
- `vcgencmd display_power 0` does **not** work under KMS: it talks to the firmware's
  display stack, which KMS replaced; it reports success and nothing happens.
- `none`: no way to power the panel off was found; the screen is painted black and
  the render loop idles (the panel's backlight stays on).

Adapters are small classes with `standby()` and `wake()`, called on the render thread
(they may block for a few seconds); tests use a fake `cec-ctl` and a fake.
"""

from __future__ import annotations

import fcntl
import logging
import os
import shutil
import subprocess
from collections.abc import Sequence
from pathlib import Path
from typing import Literal, Protocol

log = logging.getLogger(__name__)

Method = Literal["cec", "dpms", "none"]
FBIOBLANK = 0x4611
FB_BLANK_UNBLANK = 0
FB_BLANK_POWERDOWN = 4
CEC_TIMEOUT_S = 10.0


class PowerError(Exception):
    """The panel could not be switched (the message says why)."""


class PanelPower(Protocol):
    method: Method
    releases_screen: bool
    """True: the screen must be closed before `standby` (DPMS needs DRM master free)."""

    def standby(self) -> None: ...
    def wake(self) -> None: ...


class CecPower:
    """HDMI-CEC through `cec-ctl` on `device`."""

    method: Method = "cec"
    releases_screen = False

    def __init__(self, cec_ctl: str, device: str) -> None:
        self._base = [cec_ctl, "-d", device]
        self._configured = False

    def _run(self, *args: str) -> str:
        try:
            done = subprocess.run(
                [*self._base, *args],
                capture_output=True,
                text=True,
                timeout=CEC_TIMEOUT_S,
                check=False,
            )
        except (OSError, subprocess.TimeoutExpired) as exc:
            raise PowerError(f"cec-ctl {' '.join(args)}: {exc}") from exc
        if done.returncode != 0:
            why = (done.stderr or done.stdout).strip().splitlines()[-1:] or ["no output"]
            raise PowerError(f"cec-ctl {' '.join(args)} failed: {why[0]}")
        return done.stdout

    def _configure(self) -> None:
        if not self._configured:
            self._run("--playback", "--osd-name", "omo-edge")  # a logical address to send from
            self._configured = True

    def answers(self) -> bool:
        """Whether the TV answers a power-status request (CEC is on at the TV)."""
        try:
            self._configure()
            return "pwr-state" in self._run("--to", "0", "--give-device-power-status")
        except PowerError as exc:
            log.info("HDMI-CEC not usable: %s", exc)
            return False

    def standby(self) -> None:
        self._configure()
        self._run("--to", "0", "--standby")

    def wake(self) -> None:
        self._configure()
        self._run("--to", "0", "--image-view-on")


class DpmsPower:
    """DPMS off through the DRM driver's framebuffer emulation (FBIOBLANK)."""

    method: Method = "dpms"
    releases_screen = True

    def __init__(self, fb_device: str) -> None:
        self._device = fb_device

    def _blank(self, how: int) -> None:
        try:
            fd = os.open(self._device, os.O_RDWR)
        except OSError as exc:
            raise PowerError(f"{self._device}: {exc.strerror}") from exc
        try:
            fcntl.ioctl(fd, FBIOBLANK, how)
        except OSError as exc:
            raise PowerError(f"FBIOBLANK on {self._device}: {exc.strerror}") from exc
        finally:
            os.close(fd)

    def standby(self) -> None:
        self._blank(FB_BLANK_POWERDOWN)

    def wake(self) -> None:
        self._blank(FB_BLANK_UNBLANK)


class NoPower:
    """Nothing switches the panel: a black picture, the render loop idle."""

    method: Method = "none"
    releases_screen = False

    def standby(self) -> None:
        pass

    def wake(self) -> None:
        pass


def detect(
    method: str, cec_ctl: str, cec_device: str, fb_device: str, *, ask_tv: bool = True
) -> PanelPower:
    """The adapter for `[panel] method`; "auto": CEC where `cec_device` exists, `cec-ctl` is
    installed and the TV answers, else DPMS where the framebuffer exists, else none."""
    if method == "cec":
        return CecPower(cec_ctl, cec_device)
    if method == "dpms":
        return DpmsPower(fb_device)
    if method == "none":
        return NoPower()
    if Path(cec_device).exists() and shutil.which(cec_ctl):
        cec = CecPower(cec_ctl, cec_device)
        if not ask_tv or cec.answers():
            return cec
    if Path(fb_device).exists():
        return DpmsPower(fb_device)
    return NoPower()


def describe(power: PanelPower) -> str:
    return {
        "cec": "HDMI-CEC standby (cec-ctl)",
        "dpms": "DPMS off through the DRM framebuffer (FBIOBLANK)",
        "none": "none: a black picture, the backlight stays on",
    }[power.method]


def methods() -> Sequence[str]:
    return ("auto", "cec", "dpms", "none")
