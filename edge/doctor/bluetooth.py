"""Doctor check of Bluetooth: BlueZ runs, the adapter is there and powered, and passive
scanning is possible if configured. `bluetooth_verdict` is pure; the readers ask the
system D-Bus and /proc.
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from edge import config as config_mod
from edge.doctor.findings import TIMEOUT_S, Finding
from edge.errors import EdgeError

BLUEZ = "org.bluez"
ADAPTER_IFACE = "org.bluez.Adapter1"
MONITOR_IFACE = "org.bluez.AdvertisementMonitorManager1"


class BluezUnavailable(EdgeError):
    """The system bus or BlueZ cannot be asked; the message says which."""

    def __init__(self, found: str, todo: str) -> None:
        super().__init__(found)
        self.found, self.todo = found, todo


def bluetooth_verdict(
    objects: Mapping[str, Mapping[str, Mapping[str, Any]]],
    adapter: str,
    passive: bool,
    experimental: bool,
) -> list[Finding]:
    """BlueZ's managed objects (plain values) -> is there a powered adapter we can scan with?"""
    adapters = {
        path.rsplit("/", 1)[-1]: ifaces
        for path, ifaces in objects.items()
        if ADAPTER_IFACE in ifaces
    }
    plug = (
        "check that the radio is there and not blocked: `rfkill list`, "
        "`dmesg | grep -i bluetooth` (on a Pi, no dtoverlay=disable-bt)"
    )
    if adapter and adapter not in adapters:
        others = ", ".join(sorted(adapters)) or "none"
        return [
            Finding(
                "FAIL",
                "bluetooth",
                f"no Bluetooth adapter {adapter} ([presence] adapter); BlueZ has: {others}",
                plug + "; or set [presence] adapter to one BlueZ has (empty: any)",
            )
        ]
    if not adapters:
        return [Finding("FAIL", "bluetooth", "BlueZ has no Bluetooth adapter", plug)]
    name = adapter or sorted(adapters)[0]
    ifaces = adapters[name]
    if not ifaces[ADAPTER_IFACE].get("Powered", False):
        return [
            Finding(
                "FAIL",
                "bluetooth",
                f"adapter {name} is switched off",
                "`bluetoothctl power on`; if it will not stay on, `rfkill unblock bluetooth`",
            )
        ]
    found = [Finding("OK", "bluetooth", f"adapter {name} present and powered")]
    if passive:
        if MONITOR_IFACE in ifaces or experimental:
            found.append(Finding("OK", "bluetooth", "passive scanning available (BlueZ monitors)"))
        else:
            found.append(
                Finding(
                    "FAIL",
                    "bluetooth",
                    '[presence] scanning_mode = "passive", but BlueZ offers no advertisement '
                    "monitors (bluetoothd runs without --experimental)",
                    "start bluetoothd with --experimental (`systemctl edit bluetooth`, or "
                    "Experimental = true in /etc/bluetooth/main.conf; BlueZ 5.56 or later), "
                    'or set scanning_mode = "active"',
                )
            )
    return found


def bluetoothd_experimental(proc: Path = Path("/proc")) -> bool:
    """True if a running bluetoothd was started with --experimental (or -E)."""
    for cmdline in proc.glob("[0-9]*/cmdline"):
        try:
            argv = cmdline.read_bytes().split(b"\0")
        except OSError:
            continue
        daemon = bool(argv) and Path(argv[0].decode(errors="replace")).name == "bluetoothd"
        if daemon and (b"--experimental" in argv or b"-E" in argv):
            return True
    return False


async def bluez_objects(timeout_s: float = TIMEOUT_S) -> dict[str, dict[str, dict[str, Any]]]:
    """BlueZ's GetManagedObjects on the system bus, variants unwrapped."""
    from dbus_fast import BusType, Message, MessageType
    from dbus_fast.aio import MessageBus

    try:
        async with asyncio.timeout(timeout_s):
            bus = await MessageBus(bus_type=BusType.SYSTEM).connect()
    except Exception as exc:  # no bus, refused, timed out: the same to ops
        why = "no bus socket" if isinstance(exc, FileNotFoundError) else str(exc) or repr(exc)
        raise BluezUnavailable(
            f"cannot reach the system D-Bus ({why})",
            "check that dbus runs: `systemctl status dbus`",
        ) from exc
    try:
        async with asyncio.timeout(timeout_s):
            reply = await bus.call(
                Message(
                    destination=BLUEZ,
                    path="/",
                    interface="org.freedesktop.DBus.ObjectManager",
                    member="GetManagedObjects",
                )
            )
    except TimeoutError as exc:
        raise BluezUnavailable(
            f"BlueZ did not answer within {timeout_s:g} s", "sudo systemctl restart bluetooth"
        ) from exc
    finally:
        bus.disconnect()
    if reply is None or reply.message_type is MessageType.ERROR:
        error = reply.error_name if reply is not None else "no reply"
        if error in (
            "org.freedesktop.DBus.Error.ServiceUnknown",
            "org.freedesktop.DBus.Error.NameHasNoOwner",
        ):
            raise BluezUnavailable(
                "BlueZ (bluetoothd) is not running", "sudo systemctl enable --now bluetooth"
            )
        raise BluezUnavailable(f"BlueZ answered {error}", "sudo systemctl restart bluetooth")
    return {
        str(path): {
            iface: {k: getattr(v, "value", v) for k, v in props.items()}
            for iface, props in ifaces.items()
        }
        for path, ifaces in reply.body[0].items()
    }


def check_bluetooth(cfg: config_mod.Config) -> list[Finding]:
    p = cfg.presence
    if p.source.startswith("replay:"):
        return [
            Finding(
                "OK",
                "bluetooth",
                f"skipped: [presence] source is a replay ({p.source.removeprefix('replay:')}), "
                "no radio used",
            )
        ]
    passive = p.scanning_mode == "passive"
    try:
        objects = asyncio.run(bluez_objects())
    except BluezUnavailable as exc:
        return [Finding("FAIL", "bluetooth", exc.found, exc.todo)]
    return bluetooth_verdict(objects, p.adapter, passive, passive and bluetoothd_experimental())
