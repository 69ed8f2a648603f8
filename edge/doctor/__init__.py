"""`omo-edge doctor`: is this device ready to run, and if not, what should ops staff do?

Every check gives one or more `Finding`s: OK, WARN or FAIL, what was found and,
when something is wrong, what to do, in plain words. The verdicts are pure
functions of what was read (tests feed them directly); the readers around them
touch the file system, D-Bus, SDL and the broker, each with a short timeout.
One module per topic; this one runs them in order.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

from edge.clock import clock_synced
from edge.doctor.bluetooth import (
    ADAPTER_IFACE,
    BLUEZ,
    MONITOR_IFACE,
    BluezUnavailable,
    bluetooth_verdict,
    bluetoothd_experimental,
    bluez_objects,
    check_bluetooth,
)
from edge.doctor.broker import check_broker
from edge.doctor.display import (
    REAL_DRIVERS,
    check_display,
    display_verdict,
    sdl_builtin_drivers,
    sdl_default_driver,
)
from edge.doctor.findings import TIMEOUT_S, Finding, Status
from edge.doctor.host import (
    BACKLOG_WARN_AGE_S,
    BACKLOG_WARN_EVENTS,
    DISK_FAIL_BYTES,
    DISK_FAIL_PCT,
    DISK_WARN_PCT,
    backlog_verdict,
    check_config,
    check_outbox,
    check_state_dir,
    clock_verdict,
    disk_verdict,
    private_key_files,
)
from edge.doctor.keys import check_trusted_keys
from edge.doctor.panel import check_panel
from edge.doctor.tls import CERT_WARN_DAYS, check_tls, tls_verdict, validity_verdict
from edge.doctor.trust import check_trust
from edge.health import disk_space

__all__ = [
    "ADAPTER_IFACE",
    "BACKLOG_WARN_AGE_S",
    "BACKLOG_WARN_EVENTS",
    "BLUEZ",
    "CERT_WARN_DAYS",
    "DISK_FAIL_BYTES",
    "DISK_FAIL_PCT",
    "DISK_WARN_PCT",
    "MONITOR_IFACE",
    "REAL_DRIVERS",
    "TIMEOUT_S",
    "BluezUnavailable",
    "Finding",
    "Status",
    "backlog_verdict",
    "bluetooth_verdict",
    "bluetoothd_experimental",
    "bluez_objects",
    "check_bluetooth",
    "check_broker",
    "check_config",
    "check_display",
    "check_outbox",
    "check_panel",
    "check_state_dir",
    "check_tls",
    "clock_verdict",
    "disk_verdict",
    "display_verdict",
    "private_key_files",
    "run_checks",
    "sdl_builtin_drivers",
    "sdl_default_driver",
    "tls_verdict",
    "validity_verdict",
]


def run_checks(config_path: Path | None) -> Iterator[Finding]:
    """Every check in order, as each finishes (so a slow one does not hide the others)."""
    found, cfg = check_config(config_path)
    yield from found
    if cfg is None:
        return
    yield from check_state_dir(cfg.state_dir, private_key_files(cfg))
    yield disk_verdict(disk_space(cfg.state_dir), cfg.state_dir)
    yield clock_verdict(clock_synced())
    yield check_trusted_keys(cfg)
    yield check_outbox(cfg)
    yield from check_tls(cfg)
    yield from check_trust(cfg)
    yield check_broker(cfg)
    yield from check_bluetooth(cfg)
    yield check_display(cfg)
    yield from check_panel(cfg)
