"""Doctor checks of the panel: how it will be put in standby outside store hours, and
whether a display is plugged in. The verdicts are pure; `check_panel` reads the system."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

from edge import config as config_mod
from edge.doctor.findings import Finding
from edge.panel.connector import connection, read_connectors
from edge.panel.power import detect
from edge.panel.schedule import Schedule


def power_verdict(method: str, configured: str, always_on: bool) -> Finding:
    """The standby method in use (and whether it matters: no hours means always on)."""
    how = describe_method(method)
    chosen = "detected" if configured == "auto" else "configured"
    if always_on:
        return Finding("OK", "panel", f"always on (no [panel] hours); standby would be {how}")
    if method == "none":
        return Finding(
            "WARN",
            "panel",
            f"outside store hours the panel shows black with its backlight on ({chosen}: {how})",
            "switch HDMI-CEC on at the TV (and install v4l-utils for cec-ctl), or check that "
            "/dev/fb0 exists (the DRM driver's fbdev emulation) so DPMS can be used",
        )
    return Finding("OK", "panel", f"standby outside store hours by {how} ({chosen})")


def describe_method(method: str) -> str:
    return {
        "cec": "HDMI-CEC (cec-ctl)",
        "dpms": "DPMS through the DRM framebuffer",
        "none": "nothing (a black picture)",
    }.get(method, method)


def connector_verdict(statuses: Mapping[str, str]) -> Finding:
    """Whether the DRM connectors see a display."""
    state = connection(statuses)
    names = ", ".join(f"{k} {v}" for k, v in statuses.items())
    if state == "connected":
        return Finding("OK", "connector", names)
    if state == "disconnected":
        return Finding(
            "WARN",
            "connector",
            f"no display connected ({names})",
            "check the HDMI cable and that the panel is on (a TV in standby may drop "
            "hot-plug detect: then this is expected at night)",
        )
    return Finding("OK", "connector", "no DRM connectors here to watch")


def check_panel(cfg: config_mod.Config) -> list[Finding]:
    p = cfg.panel
    power = detect(p.method, p.cec_ctl, p.cec_device, p.fb_device)
    schedule = Schedule.from_config(p.hours, p.exceptions, p.timezone)
    statuses = read_connectors(Path(p.sysfs_root))
    return [power_verdict(power.method, p.method, schedule.always_on), connector_verdict(statuses)]
