"""Getting a stuck BlueZ adapter to scan again: power, stale discovery sessions, bleak's cache.

`BleakSource` decides when; this module knows how. Each action is a D-Bus call
or two under a timeout that never raises (BlueZ may be gone: a failure is
logged and the next start attempt tells). `ScanStatus` holds the counters the
scanner reports, shared with `BleakSource` because a power cycle changes them.
Logs go to the scanner's logger, "edge.presence.bleak_source", so that one
name covers the scanner in log settings.
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass
from typing import Literal

from bleak.exc import (
    BleakBluetoothNotAvailableError,
    BleakBluetoothNotAvailableReason,
    BleakDBusError,
    BleakError,
)
from dbus_fast import Message, Variant
from dbus_fast.errors import DBusError

from edge.presence import bleak_internals
from edge.presence.bluez_watch import ADAPTER_IFACE, BLUEZ, PROPS_IFACE, BluezWatch, call

log = logging.getLogger("edge.presence.bleak_source")

ScanningMode = Literal["active", "passive"]
State = Literal["stopped", "starting", "scanning", "retrying", "restarting", "power_cycling"]

ERROR_IN_PROGRESS = "org.bluez.Error.InProgress"
ERROR_NOT_READY = "org.bluez.Error.NotReady"


@dataclass(slots=True)
class ScanStatus:
    """The scanner's health counters (see `BleakSource`)."""

    state: State = "stopped"
    adverts_seen: int = 0
    dropped: int = 0
    restarts: int = 0
    power_cycles: int = 0
    last_error: str | None = None


def describe(exc: BaseException) -> str:
    """A one-line reason for logs and health: the D-Bus error name when there is one."""
    text = str(exc) or type(exc).__name__
    return f"{type(exc).__name__}: {text}"


def error_name(exc: BaseException) -> str:
    """The D-Bus error name carried by `exc` ("" when it carries none)."""
    if isinstance(exc, BleakDBusError):
        return exc.dbus_error
    if isinstance(exc, DBusError):
        return str(exc.type)
    return ""


def powered_off(exc: BaseException) -> bool:
    """Did a start fail because the adapter is switched off?"""
    return error_name(exc) == ERROR_NOT_READY or (
        isinstance(exc, BleakBluetoothNotAvailableError)
        and exc.reason is BleakBluetoothNotAvailableReason.POWERED_OFF
    )


class AdapterRecovery:
    """The recovery actions on one adapter, over `watch`'s connection and bleak's.

    `adapter_path` is the D-Bus path of the adapter scanning: the configured
    one, or, with none configured, bleak's choice once a start worked.
    """

    def __init__(
        self,
        *,
        adapter: str | None,
        mode: ScanningMode,
        call_timeout: float,
        power_off_s: float,
        in_progress_limit: int,
        watch: BluezWatch,
        status: ScanStatus,
    ) -> None:
        self._adapter = adapter
        self._mode = mode
        self._where = adapter or "the default adapter"
        self._call_timeout = call_timeout
        self._power_off_s = power_off_s
        self._in_progress_limit = in_progress_limit
        self._watch = watch
        self._status = status
        self.adapter_path: str | None = f"/org/bluez/{adapter}" if adapter else None

    async def after_failed_start(self, exc: Exception, in_progress: int) -> int:
        """Do what may let the next start work; returns the InProgress answers in a row.

        InProgress (or a timeout) may be a discovery session of ours that BlueZ
        still holds: end it, and power-cycle after `in_progress_limit` in a row.
        NotReady: power the adapter on. bleak not finding an adapter: resync bleak.
        """
        if error_name(exc) == ERROR_IN_PROGRESS or isinstance(exc, TimeoutError):
            in_progress += 1
            await self.end_stale_discovery()
            if in_progress % self._in_progress_limit == 0:
                await self.power_cycle("StartDiscovery keeps answering InProgress")
            return in_progress
        if powered_off(exc):
            await self.power_on()
        elif isinstance(exc, BleakError) and "not found" in str(exc):
            await self.resync_bleak()
        return 0

    async def resolve_adapter_path(self) -> None:
        """Which adapter bleak chose (for power cycles); watch bleak's connection too."""
        try:
            async with asyncio.timeout(self._call_timeout):
                manager = await bleak_internals.bluez_manager()
            if self._adapter is None:
                self.adapter_path = bleak_internals.default_adapter_path(manager)
        except Exception as exc:
            log.debug("cannot tell which adapter bleak scans on (%s)", describe(exc))
            return
        # If bleak's connection dies (dbus-fast drops it on EAGAIN in a burst of
        # signals), bleak recovers on the next start, but a running scanner just
        # falls silent: restart at once.
        bus = bleak_internals.bleak_bus(manager)
        if bus is not None:
            self._watch.watch(bus, "bleak's D-Bus connection")

    async def end_stale_discovery(self) -> None:
        """StopDiscovery on bleak's own connection, so that its next StartDiscovery works.

        BlueZ keeps one discovery session per D-Bus client and answers a second
        StartDiscovery from the same client with InProgress: a start that timed
        out after BlueZ took it, or a stop that never reached BlueZ, leaves a
        session that blocks scanning until that connection closes. Only the
        same connection can end it, so this uses bleak's (see bleak_internals);
        errors ("No discovery started") are fine.
        """
        if self._mode != "active" or self.adapter_path is None:
            return
        try:
            async with asyncio.timeout(self._call_timeout):
                manager = await bleak_internals.bluez_manager()
            bus = bleak_internals.bleak_bus(manager)
            if bus is None:
                return
            message = Message(
                destination=BLUEZ,
                path=self.adapter_path,
                interface=ADAPTER_IFACE,
                member="StopDiscovery",
            )
            async with asyncio.timeout(self._call_timeout):
                reply = await bus.call(message)
            log.debug("StopDiscovery for a stale session: %s", reply.error_name or "done")
        except Exception as exc:
            log.debug("StopDiscovery for a stale session failed (%s)", describe(exc))

    async def resync_bleak(self) -> None:
        """bleak says our adapter does not exist: if BlueZ says it does, make bleak re-read.

        bleak's manager can miss an adapter for good: signals that arrive while
        it (re)connects are applied, then wiped when its GetManagedObjects reply
        is processed (after a BlueZ or D-Bus restart, say). Dropping its
        connection makes its next start re-read everything.
        """
        if self.adapter_path is None:
            return
        try:
            bus = await self._watch.connection()
            await call(
                bus,
                Message(
                    destination=BLUEZ,
                    path=self.adapter_path,
                    interface=PROPS_IFACE,
                    member="Get",
                    signature="ss",
                    body=[ADAPTER_IFACE, "Powered"],
                ),
                self._call_timeout,
            )
            async with asyncio.timeout(self._call_timeout):
                manager = await bleak_internals.bluez_manager()
        except Exception:
            return  # the adapter is really not there (or BlueZ is not): keep waiting
        bleak_bus = bleak_internals.bleak_bus(manager)
        if bleak_bus is not None:
            log.info("bleak lost track of %s, which BlueZ has; reconnecting bleak", self._where)
            bleak_bus.disconnect()

    async def power_on(self) -> None:
        """The adapter is off (NotReady): switch it on; failures (rfkill) are retried later."""
        if self.adapter_path is None:
            return
        try:
            await self._set_powered(self.adapter_path, True)
        except Exception as exc:
            log.debug("powering on %s failed (%s)", self._where, describe(exc))
        else:
            log.info("BLE adapter %s was powered off; powered it on", self._where)

    async def power_cycle(self, why: str | None) -> None:
        """Adapter1.Powered false, a pause, true: resets a stuck controller and BlueZ's state.

        The adapter is powered on again even if we are cancelled in between.
        `why`, if given, is logged as a warning.
        """
        path = self.adapter_path
        status = self._status
        if path is None:
            log.debug("no adapter known to power-cycle")
            return
        status.state = "power_cycling"
        status.power_cycles += 1
        if why is not None:
            log.warning("power-cycling BLE adapter %s: %s", self._where, why)
        off = False
        try:
            await self._set_powered(path, False)
            off = True
            await asyncio.sleep(self._power_off_s)
        except Exception as exc:
            status.last_error = describe(exc)
            log.debug("powering off %s failed (%s)", self._where, status.last_error)
        finally:
            if off:
                try:
                    await self._set_powered(path, True)
                except Exception as exc:
                    status.last_error = describe(exc)
                    log.debug("powering on %s failed (%s)", self._where, status.last_error)

    async def _set_powered(self, path: str, on: bool) -> None:
        bus = await self._watch.connection()
        await call(
            bus,
            Message(
                destination=BLUEZ,
                path=path,
                interface=PROPS_IFACE,
                member="Set",
                signature="ssv",
                body=[ADAPTER_IFACE, "Powered", Variant("b", on)],
            ),
            self._call_timeout,
        )
