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

This module is the source and its start/restart loop. Around it: `bleak_scanner`
(bleak's scanner, reports to adverts), `bluez_watch` (the D-Bus connection that
watches BlueZ), `scan_recovery` (power, stale discovery, bleak's cache),
`stall_watchdog` (when silence means trouble) and `bleak_internals` (the only
code that touches bleak's internals).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import AsyncIterator, Sequence

from bleak import BleakScanner
from bleak.args.bluez import OrPatternLike
from bleak.backends.device import BLEDevice
from bleak.backends.scanner import AdvertisementData
from dbus_fast import Message

from edge.presence.advert import Advert
from edge.presence.bleak_scanner import (
    DEFAULT_OR_PATTERNS,
    RETRYABLE,
    advert_from,
    new_scanner,
    stop_scanner,
)
from edge.presence.bluez_watch import BluezWatch, match_rules, signal_meaning
from edge.presence.scan_recovery import AdapterRecovery, ScanningMode, ScanStatus, State, describe
from edge.presence.stall_watchdog import StallWatchdog

__all__ = ["DEFAULT_OR_PATTERNS", "RETRYABLE", "BleakSource", "ScanningMode", "State"]

log = logging.getLogger(__name__)


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
        self._or_patterns = list(or_patterns)
        self._where = adapter or "the default adapter"
        # None in the queue only wakes the consumer up (see `_interrupt`)
        self._queue: asyncio.Queue[Advert | None] = asyncio.Queue(maxsize=maxsize)
        self._iterating = False

        self._status = ScanStatus()
        self._watch = BluezWatch(
            rules=match_rules(f"/org/bluez/{adapter}" if adapter else None),
            call_timeout=call_timeout,
            on_signal=self._on_signal,
            on_lost=self._interrupt,
        )
        self._recovery = AdapterRecovery(
            adapter=adapter,
            mode=scanning_mode,
            call_timeout=call_timeout,
            power_off_s=power_off_s,
            in_progress_limit=in_progress_limit,
            watch=self._watch,
            status=self._status,
        )
        self._watchdog = StallWatchdog(stall_timeout, stall_max)
        self._wake = asyncio.Event()  # set when BlueZ says retrying now may work
        self._trouble: str | None = None  # why the running scanner must be restarted
        self._discovering_seen = False

    # -- health counters, read-only (a power cycle updates them too) -----------

    @property
    def state(self) -> State:
        return self._status.state

    @property
    def adverts_seen(self) -> int:
        return self._status.adverts_seen

    @property
    def dropped(self) -> int:
        return self._status.dropped

    @property
    def restarts(self) -> int:
        return self._status.restarts

    @property
    def power_cycles(self) -> int:
        return self._status.power_cycles

    @property
    def last_error(self) -> str | None:
        return self._status.last_error

    def now(self) -> float:
        """The clock of `Advert.t`: `time.monotonic()`."""
        return time.monotonic()

    def health(self) -> dict[str, int | float | str]:
        """Scanner health for `device.health`: state, counters, last error, advert age.

        `last_error` is "" when the scanner is running; `seconds_since_last_advert`
        is -1.0 when nothing has been heard yet.
        """
        last = self._watchdog.last_advert
        since = -1.0 if last is None else time.monotonic() - last
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
        self._watchdog.level = 0
        self._status.state = "starting"
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
                                async with asyncio.timeout(self._watchdog.delay(time.monotonic())):
                                    item = await self._queue.get()
                            except TimeoutError:
                                reason = "stall"
                                break
                        if item is not None:
                            yield item
                finally:
                    await stop_scanner(scanner, self._call_timeout, self._stop_timeout)
                await self._recover(reason)
        finally:
            await self._watch.close()
            self._status.state = "stopped"
            self._iterating = False

    # -- bleak's callback -----------------------------------------------------

    def _on_detection(self, device: BLEDevice, data: AdvertisementData) -> None:
        """bleak's detection callback (on the event loop): convert, enqueue or drop."""
        self._status.adverts_seen += 1
        now = time.monotonic()
        if self._watchdog.heard(now):
            log.info(
                "BLE adverts on %s flowing again (%d restarts, %d power cycles so far)",
                self._where,
                self.restarts,
                self.power_cycles,
            )
        try:
            self._queue.put_nowait(advert_from(device, data, now))
        except asyncio.QueueFull:
            self._status.dropped += 1

    # -- starting and restarting ----------------------------------------------

    async def _start(self) -> BleakScanner:
        """Start a scanner, retrying with backoff until it works (or we are cancelled)."""
        delay = self._retry_initial
        failures = 0
        in_progress = 0  # InProgress answers in a row
        previous = ""
        while True:
            self._wake.clear()  # a change BlueZ reports from now on cuts the pause short
            scanner = new_scanner(self._on_detection, self._adapter, self._mode, self._or_patterns)
            try:
                await self._watch.connection()
                async with asyncio.timeout(self._start_timeout):
                    await scanner.start()
            except Exception as exc:
                failures += 1
                error = describe(exc)
                self._status.restarts += 1
                self._status.state = "retrying"
                self._status.last_error = error
                self._log_start_failure(exc, error, failures, previous, delay)
                previous = error
                in_progress = await self._recovery.after_failed_start(exc, in_progress)
                await self._pause(delay)
                delay = min(delay * 2, self._retry_max)
            else:
                await self._recovery.resolve_adapter_path()
                if failures:
                    log.warning(
                        "BLE scanning on %s started after %d failed attempts", self._where, failures
                    )
                else:
                    log.info("BLE scanning on %s started (%s)", self._where, self._mode)
                self._trouble = None
                self._discovering_seen = False
                self._watchdog.started(time.monotonic())
                self._status.last_error = None
                self._status.state = "scanning"
                return scanner

    def _log_start_failure(
        self, exc: Exception, error: str, failures: int, previous: str, delay: float
    ) -> None:
        """Loud once, then only when the reason changes; repeats at debug level."""
        if failures == 1:
            log.warning(
                "BLE scanning on %s cannot start (%s); retrying every %g-%g s "
                "until it can, further failures logged at debug level",
                self._where,
                error,
                self._retry_initial,
                self._retry_max,
                exc_info=not isinstance(exc, RETRYABLE),
            )
        elif error != previous:
            log.info("BLE scanning on %s still cannot start, now: %s", self._where, error)
        else:
            log.debug(
                "BLE scan start attempt %d on %s failed (%s); next in %g s",
                failures,
                self._where,
                error,
                delay,
            )

    async def _pause(self, delay: float) -> None:
        """Sleep `delay` seconds, or less if BlueZ reports a change worth retrying for."""
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(delay):
                await self._wake.wait()

    async def _recover(self, reason: str | None) -> None:
        """After the scanner was stopped for `reason`: count, log, power-cycle if due."""
        self._status.restarts += 1
        if reason != "stall":
            self._status.state = "restarting"
            log.warning("BLE scanning on %s interrupted (%s); restarting", self._where, reason)
            return
        level = self._watchdog.stalled()
        silent = self._watchdog.silent_for(time.monotonic())
        if level == 1:
            self._status.state = "restarting"
            # Not necessarily a fault (everyone left), hence info.
            log.info(
                "no BLE adverts on %s for %.0f s after adverts had been flowing; "
                "restarting the scanner",
                self._where,
                silent,
            )
            return
        log.log(
            logging.WARNING if level == 2 else logging.DEBUG,
            "still no BLE adverts on %s %.0f s after %s; power-cycling the adapter"
            " (next check in %.0f s)",
            self._where,
            silent,
            "restarting the scanner" if level == 2 else "a power cycle",
            self._watchdog.period(),
        )
        await self._recovery.power_cycle(None)

    # -- what BlueZ tells our watching connection ------------------------------

    def _on_signal(self, message: Message) -> None:
        """A signal from BlueZ (on the loop): wake a retry, restart the scanner, or note."""
        try:
            meaning = signal_meaning(
                message.member, message.path, message.body, self._recovery.adapter_path
            )
        except Exception:
            log.debug("could not interpret a D-Bus signal (%s)", message.member, exc_info=True)
            return
        if meaning.wake:
            self._wake.set()
        if meaning.trouble is not None:
            self._interrupt(meaning.trouble)
        if meaning.discovering is True:
            self._discovering_seen = True
        elif meaning.discovering is False and self._mode == "active" and self._discovering_seen:
            self._interrupt("BlueZ stopped discovery")

    def _interrupt(self, reason: str) -> None:
        """Make a running scanner restart (first reason wins); ignored while not scanning."""
        if self.state != "scanning" or self._trouble is not None:
            return
        self._trouble = reason
        with contextlib.suppress(asyncio.QueueFull):  # a full queue wakes the consumer anyway
            self._queue.put_nowait(None)
