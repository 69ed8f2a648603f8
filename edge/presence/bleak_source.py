"""Live adverts from BlueZ through bleak, with a scanner that keeps itself alive.

bleak's detection callback runs on the event loop; it turns each report into an
`Advert` stamped with `time.monotonic()` and puts it in a bounded queue. A full
queue drops the advert and counts it: the callback never blocks the bus.

The open gateways' most reported failure is a scanner that stops (BlueZ
`org.bluez.Error.InProgress`, adapter gone, bluetoothd restarting) and never
comes back. Here the scan runs continuously (no duty cycle) and:

- a failed start is retried forever with exponential backoff, cut short when
  BlueZ tells us something changed (org.bluez back on the bus, an adapter
  added, an adapter powered on);
- `InProgress` on StartDiscovery: a stale discovery session of bleak's own
  D-Bus connection is ended with StopDiscovery on that same connection, then
  the start is retried; if InProgress persists, the adapter is power-cycled;
- `NotReady` (adapter powered off): the adapter is powered on again;
- adapter removed, BlueZ leaving the bus or restarting, the adapter powered
  off or discovery stopped behind our back, a D-Bus connection lost (ours or
  bleak's): seen at once on a second, small D-Bus connection that watches
  BlueZ, and answered by stopping and restarting the scanner;
- bleak says the adapter does not exist while BlueZ has it (bleak's cache can
  miss an adapter announced while bleak reconnects): bleak is made to reconnect;
- a watchdog: when adverts had been flowing and then none arrive for
  `stall_timeout` seconds, the scanner is restarted; if still nothing for
  another `stall_timeout`, the adapter is power-cycled (Adapter1.Powered
  false, then true); then again after 2x, 4x ... that, at most `stall_max`
  apart. An adapter that never heard anything is left alone, and a store that
  empties at night sees a handful of power cycles, then one per `stall_max`.

Every bleak and D-Bus call is awaited under a timeout. `adverts()` never raises
for BlueZ trouble (nor for any other error of a start attempt): only
cancellation ends it. A problem is logged once when the state changes (loudly
when it starts, once when it is over), repeats go to debug level, so an SD card
is not filled with the same line.

MAC addresses travel only inside `Advert.address`: nothing here logs or keeps
them (device object paths contain them too; those are never logged either).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import AsyncIterator, Sequence
from typing import Any, Literal

from bleak import BleakScanner
from bleak.args.bluez import BlueZScannerArgs, OrPattern, OrPatternLike
from bleak.assigned_numbers import AdvertisementDataType
from bleak.backends.bluezdbus.manager import get_global_bluez_manager
from bleak.backends.bluezdbus.utils import get_dbus_authenticator
from bleak.backends.device import BLEDevice
from bleak.backends.scanner import AdvertisementData
from bleak.exc import (
    BleakBluetoothNotAvailableError,
    BleakBluetoothNotAvailableReason,
    BleakDBusError,
    BleakError,
)
from dbus_fast import BusType, Message, MessageType, Variant
from dbus_fast.aio import MessageBus
from dbus_fast.errors import DBusError, DBusFastError

from edge.presence.advert import Advert

log = logging.getLogger(__name__)

ScanningMode = Literal["active", "passive"]
State = Literal["stopped", "starting", "scanning", "retrying", "restarting", "power_cycling"]

# Errors that mean "BlueZ is not usable right now", worth retrying: bleak's own
# (adapter missing or off, org.bluez.Error.* such as InProgress or NotReady,
# org.bluez not on the bus), dbus-fast's, and OSError (no system bus socket,
# connection refused; TimeoutError is one too). Anything else a start attempt
# raises is retried as well, but logged with its traceback.
RETRYABLE: tuple[type[Exception], ...] = (BleakError, DBusFastError, OSError)

BLUEZ = "org.bluez"
ADAPTER_IFACE = "org.bluez.Adapter1"
PROPS_IFACE = "org.freedesktop.DBus.Properties"
ERROR_IN_PROGRESS = "org.bluez.Error.InProgress"
ERROR_NOT_READY = "org.bluez.Error.NotReady"

# Passive scanning (BlueZ advertisement monitors) needs at least one pattern.
# These match the beacon formats omo-edge decodes. Manufacturer data starts with
# the company id (little endian); 16-bit service data with the UUID (little endian).
DEFAULT_OR_PATTERNS: tuple[OrPattern, ...] = (
    # iBeacon: Apple (0x004C), type 0x02, length 0x15
    OrPattern(0, AdvertisementDataType.MANUFACTURER_SPECIFIC_DATA, b"\x4c\x00\x02\x15"),
    # AltBeacon: any company, beacon code 0xBEAC
    OrPattern(2, AdvertisementDataType.MANUFACTURER_SPECIFIC_DATA, b"\xbe\xac"),
    # Eddystone: service data for 0xFEAA
    OrPattern(0, AdvertisementDataType.SERVICE_DATA_UUID16, b"\xaa\xfe"),
    # LINE Beacon: service data for 0xFE6F
    OrPattern(0, AdvertisementDataType.SERVICE_DATA_UUID16, b"\x6f\xfe"),
)


def _describe(exc: BaseException) -> str:
    """A one-line reason for logs and health: the D-Bus error name when there is one."""
    text = str(exc) or type(exc).__name__
    return f"{type(exc).__name__}: {text}"


def _error_name(exc: BaseException) -> str:
    """The D-Bus error name carried by `exc` ("" when it carries none)."""
    if isinstance(exc, BleakDBusError):
        return exc.dbus_error
    if isinstance(exc, DBusError):
        return str(exc.type)
    return ""


def _powered_off(exc: BaseException) -> bool:
    return _error_name(exc) == ERROR_NOT_READY or (
        isinstance(exc, BleakBluetoothNotAvailableError)
        and exc.reason is BleakBluetoothNotAvailableReason.POWERED_OFF
    )


def _signal_value(changed: Any, name: str) -> Any:
    """The plain value of property `name` in a PropertiesChanged body (None if absent)."""
    value = changed.get(name) if isinstance(changed, dict) else None
    return value.value if isinstance(value, Variant) else value


class BleakSource:
    """An `AdvertSource` over bleak's `BleakScanner`; iterate `adverts()` once at a time.

    Counters for health reporting, read them at any time (or all at once with
    `health()`): `adverts_seen` (reports received from bleak), `dropped` (of
    those, lost to a full queue), `restarts` (failed start attempts plus
    restarts of a running scanner), `power_cycles` (adapter power cycles
    attempted), `state` and `last_error` (why the last start failed, None
    once scanning).

    States: "stopped" (not iterated), "starting" (first attempt), "scanning",
    "retrying" (a start failed; backing off), "restarting" (a running scanner
    is being stopped and started again), "power_cycling".
    """

    def __init__(
        self,
        *,
        adapter: str | None = None,
        scanning_mode: ScanningMode = "active",
        maxsize: int = 4096,
        retry_initial: float = 1.0,
        retry_max: float = 30.0,
        start_timeout: float = 30.0,
        stop_timeout: float = 5.0,
        call_timeout: float = 5.0,
        stall_timeout: float | None = 120.0,
        stall_max: float = 1800.0,
        power_off_s: float = 1.0,
        in_progress_limit: int = 3,
        or_patterns: Sequence[OrPatternLike] = DEFAULT_OR_PATTERNS,
    ) -> None:
        """Configure; nothing touches D-Bus until `adverts()` is iterated.

        `adapter`: e.g. "hci0"; None lets BlueZ's first powered adapter be used.
        `scanning_mode`: "active" (default) or "passive" (needs BlueZ's
        experimental advertisement monitor API; uses `or_patterns`).
        `maxsize`: queue bound; adverts beyond it are dropped and counted.
        `retry_initial`/`retry_max`: backoff between failed starts, doubling.
        `start_timeout`/`stop_timeout`: bound each start or stop of the scanner.
        `call_timeout`: bound every other D-Bus call (connect, power, stop
        a stale discovery).
        `stall_timeout`: once adverts have been flowing, this many seconds
        without one restart the scanner, and the same again without one
        power-cycle the adapter; None disables the watchdog.
        `stall_max`: the watchdog's period doubles after each fruitless power
        cycle, up to this.
        `power_off_s`: how long the adapter stays off in a power cycle.
        `in_progress_limit`: InProgress answers in a row (each followed by a
        StopDiscovery) before the adapter is power-cycled.
        """
        if scanning_mode not in ("active", "passive"):
            raise ValueError(f"scanning_mode must be 'active' or 'passive', not {scanning_mode!r}")
        if maxsize < 1:
            raise ValueError(f"maxsize must be at least 1, not {maxsize}")
        if not 0 < retry_initial <= retry_max:
            raise ValueError("need 0 < retry_initial <= retry_max")
        if stall_timeout is not None and not 0 < stall_timeout <= stall_max:
            raise ValueError("need 0 < stall_timeout <= stall_max")
        if min(start_timeout, stop_timeout, call_timeout) <= 0 or power_off_s < 0:
            raise ValueError("timeouts must be positive and power_off_s not negative")
        if in_progress_limit < 1:
            raise ValueError(f"in_progress_limit must be at least 1, not {in_progress_limit}")
        if scanning_mode == "passive" and not or_patterns:
            raise ValueError("passive scanning needs at least one or_pattern")
        self._adapter = adapter
        self._mode: ScanningMode = scanning_mode
        self._retry_initial = retry_initial
        self._retry_max = retry_max
        self._start_timeout = start_timeout
        self._stop_timeout = stop_timeout
        self._call_timeout = call_timeout
        self._stall_timeout = stall_timeout
        self._stall_max = stall_max
        self._power_off_s = power_off_s
        self._in_progress_limit = in_progress_limit
        self._or_patterns = list(or_patterns)
        self._where = adapter or "the default adapter"
        # None in the queue only wakes the consumer up (see `_interrupt`)
        self._queue: asyncio.Queue[Advert | None] = asyncio.Queue(maxsize=maxsize)
        self._iterating = False

        # D-Bus object path of the adapter scanning (known once a start worked)
        self._adapter_path: str | None = f"/org/bluez/{adapter}" if adapter else None
        self._monitor: MessageBus | None = None  # our own connection, watching BlueZ
        self._watchers: dict[int, asyncio.Task[None]] = {}  # id(bus) -> disconnect watcher
        self._wake = asyncio.Event()  # set when BlueZ says retrying now may work
        self._trouble: str | None = None  # why the running scanner must be restarted
        self._discovering_seen = False
        self._last_advert: float | None = None
        self._scan_started = 0.0
        self._stall_level = 0  # fruitless watchdog actions since adverts stopped

        self.adverts_seen = 0
        self.dropped = 0
        self.restarts = 0
        self.power_cycles = 0
        self.state: State = "stopped"
        self.last_error: str | None = None

    def now(self) -> float:
        """The clock of `Advert.t`: `time.monotonic()`."""
        return time.monotonic()

    def health(self) -> dict[str, int | float | str]:
        """Scanner health for `device.health`: state, counters, last error, advert age.

        `last_error` is "" when the scanner is running; `seconds_since_last_advert`
        is -1.0 when nothing has been heard yet.
        """
        since = -1.0 if self._last_advert is None else time.monotonic() - self._last_advert
        return {
            "state": self.state,
            "adverts_seen": self.adverts_seen,
            "dropped": self.dropped,
            "restarts": self.restarts,
            "power_cycles": self.power_cycles,
            "last_error": self.last_error or "",
            "seconds_since_last_advert": round(since, 3),
        }

    async def adverts(self) -> AsyncIterator[Advert]:
        """Start scanning, yield adverts until cancelled or closed, stop scanning.

        Never raises for BlueZ trouble: a failed start is retried forever with
        backoff (state "retrying") until it succeeds or the caller cancels; a
        scanner in trouble is restarted (see the module docstring).
        """
        if self._iterating:
            raise RuntimeError("BleakSource.adverts() is already being iterated")
        self._iterating = True
        # A fresh queue and event per iteration: stale adverts are dropped, and
        # both bind to the event loop that is running now.
        self._queue = asyncio.Queue(maxsize=self._queue.maxsize)
        self._wake = asyncio.Event()
        self._trouble = None
        self._stall_level = 0
        self.state = "starting"
        try:
            while True:
                scanner = await self._start()
                reason: str | None = None
                try:
                    while (reason := self._trouble) is None:
                        try:
                            item = self._queue.get_nowait()
                        except asyncio.QueueEmpty:
                            try:
                                async with asyncio.timeout(self._watchdog_delay()):
                                    item = await self._queue.get()
                            except TimeoutError:
                                reason = "stall"
                                break
                        if item is not None:
                            yield item
                finally:
                    await self._stop(scanner)
                await self._recover(reason)
        finally:
            await self._close_watchers()
            self.state = "stopped"
            self._iterating = False

    # -- bleak's callback -----------------------------------------------------

    def _on_detection(self, device: BLEDevice, data: AdvertisementData) -> None:
        """bleak's detection callback (on the event loop): convert, enqueue or drop."""
        self.adverts_seen += 1
        now = time.monotonic()
        self._last_advert = now
        if self._stall_level:
            log.info(
                "BLE adverts on %s flowing again (%d restarts, %d power cycles so far)",
                self._where,
                self.restarts,
                self.power_cycles,
            )
            self._stall_level = 0
        advert = Advert(
            t=now,
            address=device.address,
            rssi=data.rssi,
            tx_power=data.tx_power,
            local_name=data.local_name,
            service_uuids=tuple(data.service_uuids),
            manufacturer_data=dict(data.manufacturer_data),
            service_data=dict(data.service_data),
        )
        try:
            self._queue.put_nowait(advert)
        except asyncio.QueueFull:
            self.dropped += 1

    # -- starting, stopping, recovering ---------------------------------------

    def _scanner(self) -> BleakScanner:
        bluez: BlueZScannerArgs = {}
        if self._adapter is not None:
            bluez["adapter"] = self._adapter
        if self._mode == "passive":
            bluez["or_patterns"] = self._or_patterns
        return BleakScanner(self._on_detection, scanning_mode=self._mode, bluez=bluez)

    async def _start(self) -> BleakScanner:
        """Start a scanner, retrying with backoff until it works (or we are cancelled)."""
        delay = self._retry_initial
        failures = 0
        in_progress = 0
        previous = ""
        while True:
            self._wake.clear()  # a change BlueZ reports from now on cuts the pause short
            scanner = self._scanner()
            try:
                await self._ensure_monitor()
                async with asyncio.timeout(self._start_timeout):
                    await scanner.start()
            except Exception as exc:
                failures += 1
                self.restarts += 1
                self.state = "retrying"
                self.last_error = _describe(exc)
                self._log_start_failure(exc, failures, previous, delay)
                previous = self.last_error
                if _error_name(exc) == ERROR_IN_PROGRESS or isinstance(exc, TimeoutError):
                    # maybe a discovery session of ours that BlueZ still holds
                    in_progress += 1
                    await self._end_stale_discovery()
                    if in_progress % self._in_progress_limit == 0:
                        await self._power_cycle("StartDiscovery keeps answering InProgress")
                else:
                    in_progress = 0
                    if _powered_off(exc):
                        await self._power_on()
                    elif isinstance(exc, BleakError) and "not found" in str(exc):
                        await self._resync_bleak()
                await self._pause(delay)
                delay = min(delay * 2, self._retry_max)
            else:
                await self._resolve_adapter_path()
                if failures:
                    log.warning(
                        "BLE scanning on %s started after %d failed attempts", self._where, failures
                    )
                else:
                    log.info("BLE scanning on %s started (%s)", self._where, self._mode)
                self._trouble = None
                self._discovering_seen = False
                self._scan_started = time.monotonic()
                self.last_error = None
                self.state = "scanning"
                return scanner

    def _log_start_failure(
        self, exc: Exception, failures: int, previous: str, delay: float
    ) -> None:
        unexpected = not isinstance(exc, RETRYABLE)
        if failures == 1:
            log.warning(
                "BLE scanning on %s cannot start (%s); retrying every %g-%g s "
                "until it can, further failures logged at debug level",
                self._where,
                self.last_error,
                self._retry_initial,
                self._retry_max,
                exc_info=unexpected,
            )
        elif self.last_error != previous:
            log.info("BLE scanning on %s still cannot start, now: %s", self._where, self.last_error)
        else:
            log.debug(
                "BLE scan start attempt %d on %s failed (%s); next in %g s",
                failures,
                self._where,
                self.last_error,
                delay,
            )

    async def _pause(self, delay: float) -> None:
        """Sleep `delay` seconds, or less if BlueZ reports a change worth retrying for."""
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(delay):
                await self._wake.wait()

    async def _stop(self, scanner: BleakScanner) -> None:
        """Stop a scanner; bounded in time and never raising (BlueZ may be gone)."""
        # If bleak's connection died, let bleak notice (and reconnect) first:
        # stopping on a dead connection leaves a dbus-fast future with an error
        # nobody reads ("Future exception was never retrieved").
        with contextlib.suppress(Exception):
            async with asyncio.timeout(self._call_timeout):
                await get_global_bluez_manager()
        try:
            async with asyncio.timeout(self._stop_timeout):
                await scanner.stop()
        except RETRYABLE as exc:
            log.debug("stopping the BLE scanner failed (%s)", _describe(exc))
        except Exception:
            # Cleanup must not turn a cancel or a restart into a crash; but this
            # is not BlueZ being away, so show it.
            log.warning("stopping the BLE scanner failed unexpectedly", exc_info=True)

    async def _recover(self, reason: str | None) -> None:
        """After the scanner was stopped for `reason`: count, log, power-cycle if due."""
        self.restarts += 1
        if reason != "stall":
            self.state = "restarting"
            log.warning("BLE scanning on %s interrupted (%s); restarting", self._where, reason)
            return
        self._stall_level += 1
        silent = time.monotonic() - (self._last_advert or self._scan_started)
        if self._stall_level == 1:
            self.state = "restarting"
            # Not necessarily a fault (everyone left), hence info.
            log.info(
                "no BLE adverts on %s for %.0f s after adverts had been flowing; "
                "restarting the scanner",
                self._where,
                silent,
            )
            return
        log.log(
            logging.WARNING if self._stall_level == 2 else logging.DEBUG,
            "still no BLE adverts on %s %.0f s after %s; power-cycling the adapter"
            " (next check in %.0f s)",
            self._where,
            silent,
            "restarting the scanner" if self._stall_level == 2 else "a power cycle",
            self._stall_period(),
        )
        await self._power_cycle(None)

    def _stall_period(self) -> float:
        assert self._stall_timeout is not None
        doubling = 2.0 ** max(self._stall_level - 1, 0)
        return min(self._stall_timeout * doubling, self._stall_max)

    def _watchdog_delay(self) -> float | None:
        """Seconds until the watchdog acts, None while it is disarmed.

        Armed only once adverts have flowed: an adapter with nothing to hear
        is fine. Measured from the last advert or the last (re)start.
        """
        if self._stall_timeout is None or self._last_advert is None:
            return None
        since = max(self._last_advert, self._scan_started)
        return max(0.0, since + self._stall_period() - time.monotonic())

    # -- D-Bus: our own connection, watching BlueZ and powering the adapter ----

    async def _call(self, bus: MessageBus, message: Message) -> Message:
        async with asyncio.timeout(self._call_timeout):
            reply = await bus.call(message)
        if reply.message_type is MessageType.ERROR:
            text = str(reply.body[0]) if reply.body else ""
            raise DBusError(reply.error_name or "org.freedesktop.DBus.Error.Failed", text, reply)
        return reply

    def _match_rules(self) -> list[str]:
        path = f",path='{self._adapter_path}'" if self._adapter else ""
        arg0path = f",arg0path='{self._adapter_path}'" if self._adapter else ""
        manager = f"type='signal',sender='{BLUEZ}',interface='org.freedesktop.DBus.ObjectManager'"
        return [
            "type='signal',sender='org.freedesktop.DBus',interface='org.freedesktop.DBus',"
            f"member='NameOwnerChanged',arg0='{BLUEZ}'",
            f"{manager},member='InterfacesAdded'{arg0path}",
            f"{manager},member='InterfacesRemoved'{arg0path}",
            f"type='signal',sender='{BLUEZ}',interface='{PROPS_IFACE}',"
            f"member='PropertiesChanged',arg0='{ADAPTER_IFACE}'{path}",
        ]

    async def _ensure_monitor(self) -> MessageBus:
        """Our connection to the system bus, watching BlueZ; (re)connected when needed."""
        bus = self._monitor
        if bus is not None and bus.connected:
            return bus
        self._monitor = None
        bus = MessageBus(bus_type=BusType.SYSTEM, auth=get_dbus_authenticator())
        try:
            async with asyncio.timeout(self._call_timeout):
                await bus.connect()
            for rule in self._match_rules():
                await self._call(
                    bus,
                    Message(
                        destination="org.freedesktop.DBus",
                        path="/org/freedesktop/DBus",
                        interface="org.freedesktop.DBus",
                        member="AddMatch",
                        signature="s",
                        body=[rule],
                    ),
                )
        except BaseException:
            bus.disconnect()  # releases the socket even if connect() failed
            raise
        bus.add_message_handler(self._on_bus_message)
        self._monitor = bus
        self._watch_bus(bus, "D-Bus connection")
        return bus

    def _watch_bus(self, bus: MessageBus, what: str) -> None:
        if id(bus) not in self._watchers:
            self._watchers[id(bus)] = asyncio.ensure_future(self._bus_lost(bus, what))

    async def _bus_lost(self, bus: MessageBus, what: str) -> None:
        with contextlib.suppress(Exception):
            await bus.wait_for_disconnect()  # type: ignore[no-untyped-call]
        self._watchers.pop(id(bus), None)
        if bus is self._monitor:
            self._monitor = None
        self._interrupt(f"{what} lost")

    async def _close_watchers(self) -> None:
        tasks = list(self._watchers.values())
        self._watchers.clear()
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        if self._monitor is not None:
            self._monitor.disconnect()
            self._monitor = None

    def _is_ours(self, path: object) -> bool:
        return self._adapter_path is None or path == self._adapter_path

    def _on_bus_message(self, message: Message) -> None:
        """Signals from BlueZ on our connection (dbus-fast calls this on the loop)."""
        if message.message_type is not MessageType.SIGNAL:
            return
        try:
            self._on_signal(message.member, message.path, message.body)
        except Exception:
            log.debug("could not interpret a D-Bus signal (%s)", message.member, exc_info=True)

    def _on_signal(self, member: str | None, path: str | None, body: list[Any]) -> None:
        if member == "NameOwnerChanged" and body and body[0] == BLUEZ:
            if body[2]:
                self._wake.set()
                self._interrupt("BlueZ restarted")
            else:
                self._interrupt("BlueZ left the bus")
        elif member == "InterfacesAdded" and ADAPTER_IFACE in body[1]:
            self._wake.set()
        elif member == "InterfacesRemoved" and ADAPTER_IFACE in body[1] and self._is_ours(body[0]):
            self._interrupt("adapter removed")
        elif member == "PropertiesChanged" and body[0] == ADAPTER_IFACE and self._is_ours(path):
            powered = _signal_value(body[1], "Powered")
            discovering = _signal_value(body[1], "Discovering")
            if powered is True:
                self._wake.set()
            elif powered is False:
                self._interrupt("adapter powered off")
            if discovering is True:
                self._discovering_seen = True
            elif discovering is False and self._mode == "active" and self._discovering_seen:
                self._interrupt("BlueZ stopped discovery")

    def _interrupt(self, reason: str) -> None:
        """Make a running scanner restart (first reason wins); ignored while not scanning."""
        if self.state != "scanning" or self._trouble is not None:
            return
        self._trouble = reason
        with contextlib.suppress(asyncio.QueueFull):  # a full queue wakes the consumer anyway
            self._queue.put_nowait(None)

    async def _resolve_adapter_path(self) -> None:
        """Which adapter bleak chose (for power cycles); watch bleak's connection too."""
        try:
            async with asyncio.timeout(self._call_timeout):
                manager = await get_global_bluez_manager()
            if self._adapter is None:
                self._adapter_path = manager.get_default_adapter()
        except Exception as exc:
            log.debug("cannot tell which adapter bleak scans on (%s)", _describe(exc))
            return
        # bleak has no public handle on its connection. If it dies (dbus-fast
        # drops it on EAGAIN in a burst of signals), bleak recovers on the next
        # start, but a running scanner just falls silent: restart at once.
        bus = getattr(manager, "_bus", None)
        if isinstance(bus, MessageBus) and bus.connected:
            self._watch_bus(bus, "bleak's D-Bus connection")

    async def _end_stale_discovery(self) -> None:
        """StopDiscovery on bleak's own connection, so that its next StartDiscovery works.

        BlueZ keeps one discovery session per D-Bus client and answers a second
        StartDiscovery from the same client with InProgress: a start that timed
        out after BlueZ took it, or a stop that never reached BlueZ, leaves a
        session that blocks scanning until that connection closes. Only the
        same connection can end it, so this uses bleak's (a private attribute:
        bleak offers no public way); errors ("No discovery started") are fine.
        """
        if self._mode != "active" or self._adapter_path is None:
            return
        try:
            async with asyncio.timeout(self._call_timeout):
                manager = await get_global_bluez_manager()
            bus = getattr(manager, "_bus", None)
            if not isinstance(bus, MessageBus) or not bus.connected:
                return
            message = Message(
                destination=BLUEZ,
                path=self._adapter_path,
                interface=ADAPTER_IFACE,
                member="StopDiscovery",
            )
            async with asyncio.timeout(self._call_timeout):
                reply = await bus.call(message)
            log.debug("StopDiscovery for a stale session: %s", reply.error_name or "done")
        except Exception as exc:
            log.debug("StopDiscovery for a stale session failed (%s)", _describe(exc))

    async def _resync_bleak(self) -> None:
        """bleak says our adapter does not exist: if BlueZ says it does, make bleak re-read.

        bleak's manager can miss an adapter for good: signals that arrive while
        it (re)connects are applied, then wiped when its GetManagedObjects reply
        is processed (after a BlueZ or D-Bus restart, say). Dropping its
        connection (private attribute again) makes its next start re-read
        everything.
        """
        if self._adapter_path is None:
            return
        try:
            bus = await self._ensure_monitor()
            await self._call(
                bus,
                Message(
                    destination=BLUEZ,
                    path=self._adapter_path,
                    interface=PROPS_IFACE,
                    member="Get",
                    signature="ss",
                    body=[ADAPTER_IFACE, "Powered"],
                ),
            )
            async with asyncio.timeout(self._call_timeout):
                manager = await get_global_bluez_manager()
        except Exception:
            return  # the adapter is really not there (or BlueZ is not): keep waiting
        bleak_bus = getattr(manager, "_bus", None)
        if isinstance(bleak_bus, MessageBus) and bleak_bus.connected:
            log.info("bleak lost track of %s, which BlueZ has; reconnecting bleak", self._where)
            bleak_bus.disconnect()

    async def _set_powered(self, path: str, on: bool) -> None:
        bus = await self._ensure_monitor()
        await self._call(
            bus,
            Message(
                destination=BLUEZ,
                path=path,
                interface=PROPS_IFACE,
                member="Set",
                signature="ssv",
                body=[ADAPTER_IFACE, "Powered", Variant("b", on)],
            ),
        )

    async def _power_on(self) -> None:
        """The adapter is off (NotReady): switch it on; failures (rfkill) are retried later."""
        if self._adapter_path is None:
            return
        try:
            await self._set_powered(self._adapter_path, True)
        except Exception as exc:
            log.debug("powering on %s failed (%s)", self._where, _describe(exc))
        else:
            log.info("BLE adapter %s was powered off; powered it on", self._where)

    async def _power_cycle(self, why: str | None) -> None:
        """Adapter1.Powered false, a pause, true: resets a stuck controller and BlueZ's state.

        The adapter is powered on again even if we are cancelled in between.
        """
        path = self._adapter_path
        if path is None:
            log.debug("no adapter known to power-cycle")
            return
        self.state = "power_cycling"
        self.power_cycles += 1
        if why is not None:
            log.warning("power-cycling BLE adapter %s: %s", self._where, why)
        off = False
        try:
            await self._set_powered(path, False)
            off = True
            await asyncio.sleep(self._power_off_s)
        except Exception as exc:
            self.last_error = _describe(exc)
            log.debug("powering off %s failed (%s)", self._where, self.last_error)
        finally:
            if off:
                try:
                    await self._set_powered(path, True)
                except Exception as exc:
                    self.last_error = _describe(exc)
                    log.debug("powering on %s failed (%s)", self._where, self.last_error)
