"""BleakSource: the real bleak scanner against a fake BlueZ on a private D-Bus."""

from __future__ import annotations

import asyncio
import logging
import shutil
import time
from collections.abc import Callable
from pathlib import Path

import pytest
from bleak.backends.device import BLEDevice
from bleak.backends.scanner import AdvertisementData

from edge.presence.advert import Advert
from edge.presence.bleak_source import BleakSource
from tests.fake_bluez import fake_bluez

needs_dbus = pytest.mark.skipif(
    shutil.which("dbus-daemon") is None, reason="dbus-daemon is not installed"
)

LOGGER = "edge.presence.bleak_source"
MAC = "C4:7C:8D:6A:11:02"
IBEACON = bytes.fromhex("0215f7826da64fa24e988024bc5b71e0893e00010002c5")
EDDYSTONE_UUID = "0000feaa-0000-1000-8000-00805f9b34fb"
EDDYSTONE_UID = bytes.fromhex("00e8" + "0102030405060708090a" + "0b0c0d0e0f10")
WAIT = 15.0  # upper bound for anything we poll for; normally milliseconds

# fast backoff so retries happen within a test
FAST = {"retry_initial": 0.05, "retry_max": 0.2, "stop_timeout": 5.0}


async def wait_until(pred: Callable[[], bool], what: str, timeout: float = WAIT) -> None:
    deadline = time.monotonic() + timeout
    while not pred():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout} s waiting for {what}")
        await asyncio.sleep(0.01)


def our_records(caplog: pytest.LogCaptureFixture) -> list[logging.LogRecord]:
    return [r for r in caplog.records if r.name == LOGGER]


def assert_no_mac_logged(caplog: pytest.LogCaptureFixture) -> None:
    for record in our_records(caplog):
        text = record.getMessage()
        assert MAC not in text and MAC.replace(":", "_") not in text


@needs_dbus
@pytest.mark.timeout(60)
@pytest.mark.parametrize("mode", ["active", "passive"])
def test_injected_ibeacon_arrives_as_advert(
    tmp_path: Path, mode: str, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG, logger=LOGGER)
    with fake_bluez(tmp_path) as fb:
        path = fb.add_device(MAC, "beacon")
        source = BleakSource(adapter="hci0", scanning_mode=mode, stall_timeout=None, **FAST)  # type: ignore[arg-type]

        async def main() -> tuple[Advert, Advert]:
            agen = source.adverts()
            first = asyncio.ensure_future(anext(agen))  # starts the scanner
            await wait_until(lambda: source.state == "scanning", "scanner started")
            before = source.now()
            fb.advertise(path, rssi=-58, manufacturer_data={0x004C: IBEACON})
            a = await asyncio.wait_for(first, WAIT)
            assert before <= a.t <= source.now()
            fb.advertise(path, rssi=-71, service_data={EDDYSTONE_UUID: EDDYSTONE_UID})
            b = await asyncio.wait_for(anext(agen), WAIT)
            await agen.aclose()
            return a, b

        a, b = asyncio.run(main())
        calls = fb.calls("/org/bluez/hci0")

    assert a.address == MAC
    assert a.rssi == -58
    assert a.manufacturer_data == {76: IBEACON}
    assert a.service_data == {}
    assert a.local_name == "beacon"
    assert b.rssi == -71
    assert b.manufacturer_data == {}
    assert b.service_data == {EDDYSTONE_UUID: EDDYSTONE_UID}
    assert b.t >= a.t

    assert source.state == "stopped"
    assert (source.adverts_seen, source.dropped, source.restarts) == (2, 0, 0)
    if mode == "active":
        assert calls.index("StartDiscovery") < calls.index("StopDiscovery")
    else:
        assert calls.index("RegisterMonitor") < calls.index("UnregisterMonitor")
        assert "StartDiscovery" not in calls
    assert_no_mac_logged(caplog)


@needs_dbus
@pytest.mark.timeout(60)
def test_retries_until_bluez_appears(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG, logger=LOGGER)
    with fake_bluez(tmp_path, bluez=False) as fb:
        source = BleakSource(adapter="hci0", stall_timeout=None, **FAST)

        async def main() -> Advert:
            task = asyncio.ensure_future(anext(source.adverts()))
            await wait_until(lambda: source.restarts >= 3, "three failed starts")
            assert source.state == "retrying"
            assert not task.done()
            assert source.last_error is not None
            assert "org.freedesktop.DBus.Error" in source.last_error

            fb.start_bluez()
            fb.add_adapter()
            path = fb.add_device(MAC, "beacon")
            await wait_until(lambda: source.state == "scanning", "scanner started")
            fb.advertise(path, rssi=-60, manufacturer_data={0x004C: IBEACON})
            return await asyncio.wait_for(task, WAIT)

        advert = asyncio.run(main())

    assert advert.manufacturer_data == {76: IBEACON}
    assert source.last_error is None
    warnings = [r.getMessage() for r in our_records(caplog) if r.levelno >= logging.WARNING]
    # loud once when it fails, once when it recovers; the repeats are debug
    assert len(warnings) == 2, warnings
    assert "cannot start" in warnings[0]
    assert "started after" in warnings[1]
    assert_no_mac_logged(caplog)


@needs_dbus
@pytest.mark.timeout(60)
def test_retries_until_an_adapter_appears(tmp_path: Path) -> None:
    with fake_bluez(tmp_path, adapter=False) as fb:
        source = BleakSource(stall_timeout=None, **FAST)  # default adapter

        async def main() -> Advert:
            task = asyncio.ensure_future(anext(source.adverts()))
            await wait_until(lambda: source.restarts >= 2, "two failed starts")
            assert source.state == "retrying"
            assert not task.done()
            assert "adapter" in (source.last_error or "")

            fb.add_adapter()
            path = fb.add_device(MAC, "beacon")
            await wait_until(lambda: source.state == "scanning", "scanner started")
            fb.advertise(path, rssi=-49, manufacturer_data={0x004C: IBEACON})
            return await asyncio.wait_for(task, WAIT)

        advert = asyncio.run(main())

    assert advert.rssi == -49
    assert advert.manufacturer_data == {76: IBEACON}


@needs_dbus
@pytest.mark.timeout(60)
def test_silent_scanner_is_restarted(tmp_path: Path) -> None:
    with fake_bluez(tmp_path) as fb:
        path = fb.add_device(MAC, "beacon")
        source = BleakSource(adapter="hci0", stall_timeout=0.2, **FAST)

        async def main() -> Advert:
            agen = source.adverts()
            task = asyncio.ensure_future(anext(agen))
            await wait_until(lambda: source.restarts >= 2, "two stall restarts")
            await wait_until(lambda: source.state == "scanning", "scanner restarted")
            # the scanner may stall again before an advert lands: keep advertising
            deadline = time.monotonic() + WAIT
            while not task.done() and time.monotonic() < deadline:
                fb.advertise(path, rssi=-66, manufacturer_data={0x004C: IBEACON})
                await asyncio.wait([task], timeout=0.05)
            advert = await asyncio.wait_for(task, WAIT)
            await agen.aclose()
            return advert

        advert = asyncio.run(main())
        calls = fb.calls("/org/bluez/hci0")

    assert advert.rssi == -66
    assert calls.count("StartDiscovery") >= 3
    assert calls.count("StopDiscovery") == calls.count("StartDiscovery")


@pytest.mark.timeout(30)
def test_no_system_bus_retries_without_raising_and_cancels_cleanly(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG, logger=LOGGER)
    monkeypatch.setenv("DBUS_SYSTEM_BUS_ADDRESS", f"unix:path={tmp_path / 'no-such-bus'}")
    source = BleakSource(**FAST)

    async def main() -> None:
        task = asyncio.ensure_future(anext(source.adverts()))
        await wait_until(lambda: source.restarts >= 3, "three failed starts")
        assert source.state == "retrying"
        assert not task.done()
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task

    asyncio.run(main())
    assert source.state == "stopped"
    warnings = [r for r in our_records(caplog) if r.levelno >= logging.WARNING]
    assert len(warnings) == 1


def _report(source: BleakSource, rssi: int) -> None:
    device = BLEDevice(MAC, "beacon", details=None)
    data = AdvertisementData(
        local_name="beacon",
        manufacturer_data={0x004C: IBEACON},
        service_data={},
        service_uuids=[],
        tx_power=None,
        rssi=rssi,
        platform_data=(),
    )
    source._on_detection(device, data)


@pytest.mark.timeout(10)
def test_full_queue_drops_and_counts_instead_of_blocking() -> None:
    source = BleakSource(maxsize=2)
    for rssi in range(-50, -60, -1):  # 10 reports, room for 2
        _report(source, rssi)  # returns at once: nothing awaits a consumer
    assert source.adverts_seen == 10
    assert source.dropped == 8
    queued = [source._queue.get_nowait() for _ in range(source._queue.qsize())]
    assert [a.rssi for a in queued] == [-50, -51]  # the oldest are kept
    assert queued[0].manufacturer_data == {76: IBEACON}
    assert queued[0].service_uuids == ()


def test_rejects_bad_configuration() -> None:
    with pytest.raises(ValueError, match="scanning_mode"):
        BleakSource(scanning_mode="loud")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="maxsize"):
        BleakSource(maxsize=0)
    with pytest.raises(ValueError, match="or_pattern"):
        BleakSource(scanning_mode="passive", or_patterns=())
