"""bleak's `BleakScanner` as omo-edge uses it: made, its reports turned into `Advert`s,
stopped without ever raising.

Only bleak's public API is used here (bleak_internals has the rest).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable

from bleak import BleakScanner
from bleak.args.bluez import BlueZScannerArgs, OrPattern, OrPatternLike
from bleak.assigned_numbers import AdvertisementDataType
from bleak.backends.device import BLEDevice
from bleak.backends.scanner import AdvertisementData
from bleak.exc import BleakError
from dbus_fast.errors import DBusFastError

from edge.presence import bleak_internals
from edge.presence.advert import Advert
from edge.presence.scan_recovery import ScanningMode, describe

log = logging.getLogger("edge.presence.bleak_source")  # the scanner's one logger name

# Errors that mean "BlueZ is not usable right now", worth retrying: bleak's own
# (adapter missing or off, org.bluez.Error.* such as InProgress or NotReady,
# org.bluez not on the bus), dbus-fast's, and OSError (no system bus socket,
# connection refused; TimeoutError is one too). Anything else a start attempt
# raises is retried as well, but logged with its traceback.
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

Detection = Callable[[BLEDevice, AdvertisementData], None]


def new_scanner(
    on_detection: Detection,
    adapter: str | None,
    mode: ScanningMode,
    or_patterns: list[OrPatternLike],
) -> BleakScanner:
    """A scanner (not started) on `adapter` (None: BlueZ's first powered one)."""
    bluez: BlueZScannerArgs = {}
    if adapter is not None:
        bluez["adapter"] = adapter
    if mode == "passive":
        bluez["or_patterns"] = or_patterns
    return BleakScanner(on_detection, scanning_mode=mode, bluez=bluez)


def advert_from(device: BLEDevice, data: AdvertisementData, t: float) -> Advert:
    """One bleak report as an `Advert` heard at monotonic time `t`."""
    return Advert(
        t=t,
        address=device.address,
        rssi=data.rssi,
        tx_power=data.tx_power,
        local_name=data.local_name,
        service_uuids=tuple(data.service_uuids),
        manufacturer_data=dict(data.manufacturer_data),
        service_data=dict(data.service_data),
    )


async def stop_scanner(scanner: BleakScanner, call_timeout: float, stop_timeout: float) -> None:
    """Stop a scanner; bounded in time and never raising (BlueZ may be gone)."""
    # If bleak's connection died, let bleak notice (and reconnect) first:
    # stopping on a dead connection leaves a dbus-fast future with an error
    # nobody reads ("Future exception was never retrieved").
    with contextlib.suppress(Exception):
        async with asyncio.timeout(call_timeout):
            await bleak_internals.bluez_manager()
    try:
        async with asyncio.timeout(stop_timeout):
            await scanner.stop()
    except RETRYABLE as exc:
        log.debug("stopping the BLE scanner failed (%s)", describe(exc))
    except Exception:
        # Cleanup must not turn a cancel or a restart into a crash; but this
        # is not BlueZ being away, so show it.
        log.warning("stopping the BLE scanner failed unexpectedly", exc_info=True)
