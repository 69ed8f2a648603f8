"""Live adverts from BlueZ through bleak, with a scanner that keeps itself alive.

bleak's detection callback runs on the event loop; it turns each report into an
`Advert` stamped with `time.monotonic()` and puts it in a bounded queue. A full
queue drops the advert and counts it: the callback never blocks the bus.

The open gateways' most reported failure is a scanner that stops (BlueZ
`org.bluez.Error.InProgress`, adapter gone, bluetoothd restarting) and never
comes back. So starting is retried forever with exponential backoff, and an
optional stall timeout restarts a scanner that has gone silent. Repeated
failures are logged loudly once, then at debug level, so an SD card is not
filled with the same line.

MAC addresses travel only inside `Advert.address`: nothing here logs or keeps them.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import AsyncIterator, Sequence
from typing import Literal

from bleak import BleakScanner
from bleak.args.bluez import BlueZScannerArgs, OrPattern, OrPatternLike
from bleak.assigned_numbers import AdvertisementDataType
from bleak.backends.device import BLEDevice
from bleak.backends.scanner import AdvertisementData
from bleak.exc import BleakError
from dbus_fast.errors import DBusFastError

from edge.presence.advert import Advert

log = logging.getLogger(__name__)

ScanningMode = Literal["active", "passive"]
State = Literal["stopped", "scanning", "retrying"]

# Errors that mean "BlueZ is not usable right now", worth retrying: bleak's own
# (adapter missing or off, org.bluez.Error.* such as InProgress or NotReady,
# org.bluez not on the bus), dbus-fast's, and OSError (no system bus socket,
# connection refused; TimeoutError is one too).
RETRYABLE: tuple[type[Exception], ...] = (BleakError, DBusFastError, OSError)

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


class BleakSource:
    """An `AdvertSource` over bleak's `BleakScanner`; iterate `adverts()` once at a time.

    Counters for health reporting, read them at any time:
    `adverts_seen` (reports received from bleak), `dropped` (of those, lost to a
    full queue), `restarts` (start retries and stall restarts), `state`
    ("stopped"; "scanning"; "retrying" while a start is failing or a stalled
    scanner is being restarted) and `last_error` (why the last start failed,
    None once scanning).
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
        stall_timeout: float | None = 120.0,
        or_patterns: Sequence[OrPatternLike] = DEFAULT_OR_PATTERNS,
    ) -> None:
        """Configure; nothing touches D-Bus until `adverts()` is iterated.

        `adapter`: e.g. "hci0"; None lets BlueZ's first powered adapter be used.
        `scanning_mode`: "active" (default) or "passive" (needs BlueZ's
        experimental advertisement monitor API; uses `or_patterns`).
        `maxsize`: queue bound; adverts beyond it are dropped and counted.
        `retry_initial`/`retry_max`: backoff between failed starts, doubling.
        `start_timeout`/`stop_timeout`: bound each start or stop call on D-Bus.
        `stall_timeout`: restart the scanner after this many seconds without
        a single advert (a silently stuck adapter); None disables it.
        """
        if scanning_mode not in ("active", "passive"):
            raise ValueError(f"scanning_mode must be 'active' or 'passive', not {scanning_mode!r}")
        if maxsize < 1:
            raise ValueError(f"maxsize must be at least 1, not {maxsize}")
        if not 0 < retry_initial <= retry_max:
            raise ValueError("need 0 < retry_initial <= retry_max")
        if scanning_mode == "passive" and not or_patterns:
            raise ValueError("passive scanning needs at least one or_pattern")
        self._adapter = adapter
        self._mode: ScanningMode = scanning_mode
        self._retry_initial = retry_initial
        self._retry_max = retry_max
        self._start_timeout = start_timeout
        self._stop_timeout = stop_timeout
        self._stall_timeout = stall_timeout
        self._or_patterns = list(or_patterns)
        self._queue: asyncio.Queue[Advert] = asyncio.Queue(maxsize=maxsize)
        self._iterating = False

        self.adverts_seen = 0
        self.dropped = 0
        self.restarts = 0
        self.state: State = "stopped"
        self.last_error: str | None = None

    def now(self) -> float:
        """The clock of `Advert.t`: `time.monotonic()`."""
        return time.monotonic()

    async def adverts(self) -> AsyncIterator[Advert]:
        """Start scanning, yield adverts until cancelled or closed, stop scanning.

        Never raises for BlueZ trouble: a failed start is retried forever with
        backoff (state "retrying") until it succeeds or the caller cancels.
        """
        if self._iterating:
            raise RuntimeError("BleakSource.adverts() is already being iterated")
        self._iterating = True
        # A fresh queue per iteration: stale adverts are dropped, and the queue
        # binds to the event loop that is running now.
        self._queue = asyncio.Queue(maxsize=self._queue.maxsize)
        stalls = 0
        try:
            while True:
                scanner = await self._start()
                try:
                    while True:
                        try:
                            advert = self._queue.get_nowait()
                        except asyncio.QueueEmpty:
                            async with asyncio.timeout(self._stall_timeout):
                                advert = await self._queue.get()
                        stalls = 0
                        yield advert
                except TimeoutError:
                    stalls += 1
                    self.restarts += 1
                    self.state = "retrying"
                    # Not necessarily a fault (an empty store at night), hence info.
                    level = logging.INFO if stalls == 1 else logging.DEBUG
                    log.log(
                        level,
                        "no adverts for %g s; restarting the BLE scanner (stall %d in a row)",
                        self._stall_timeout,
                        stalls,
                    )
                finally:
                    await self._stop(scanner)
        finally:
            self.state = "stopped"
            self._iterating = False

    def _on_detection(self, device: BLEDevice, data: AdvertisementData) -> None:
        """bleak's detection callback (on the event loop): convert, enqueue or drop."""
        self.adverts_seen += 1
        advert = Advert(
            t=time.monotonic(),
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
        where = self._adapter or "default adapter"
        while True:
            scanner = self._scanner()
            try:
                async with asyncio.timeout(self._start_timeout):
                    await scanner.start()
            except RETRYABLE as exc:
                failures += 1
                self.restarts += 1
                self.state = "retrying"
                self.last_error = _describe(exc)
                if failures == 1:
                    log.warning(
                        "BLE scanning on %s cannot start (%s); retrying every %g-%g s "
                        "until it can, further failures logged at debug level",
                        where,
                        self.last_error,
                        self._retry_initial,
                        self._retry_max,
                    )
                else:
                    log.debug(
                        "BLE scan start attempt %d on %s failed (%s); next in %g s",
                        failures + 1,
                        where,
                        self.last_error,
                        delay,
                    )
                await asyncio.sleep(delay)
                delay = min(delay * 2, self._retry_max)
            else:
                if failures:
                    log.warning(
                        "BLE scanning on %s started after %d failed attempts", where, failures
                    )
                else:
                    log.info("BLE scanning on %s started (%s)", where, self._mode)
                self.state = "scanning"
                self.last_error = None
                return scanner

    async def _stop(self, scanner: BleakScanner) -> None:
        """Stop a scanner; bounded in time and never raising (BlueZ may be gone)."""
        try:
            async with asyncio.timeout(self._stop_timeout):
                await scanner.stop()
        except RETRYABLE as exc:
            log.debug("stopping the BLE scanner failed (%s)", _describe(exc))
        except Exception:
            # Cleanup must not turn a cancel or a restart into a crash; but this
            # is not BlueZ being away, so show it.
            log.warning("stopping the BLE scanner failed unexpectedly", exc_info=True)
