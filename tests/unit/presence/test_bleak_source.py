"""BleakSource: the real bleak scanner against a fake BlueZ on a private D-Bus.

The recovery tests inject each failure the way BlueZ shows it on the bus (see
tests/support/fake_bluez.py) and check that adverts flow again, with small timings
passed to the constructor.
"""

from __future__ import annotations

import asyncio
import logging
import shutil
import time
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import pytest
from bleak.backends.bluezdbus.manager import get_global_bluez_manager
from bleak.backends.device import BLEDevice
from bleak.backends.scanner import AdvertisementData

from edge.presence.advert import Advert
from edge.presence.bleak_source import BleakSource
from tests.support.fake_bluez import FakeBluez, fake_bluez

needs_dbus = pytest.mark.skipif(
    shutil.which("dbus-daemon") is None, reason="dbus-daemon is not installed"
)

LOGGER = "edge.presence.bleak_source"
MAC = "C4:7C:8D:6A:11:02"
IBEACON = bytes.fromhex("0215f7826da64fa24e988024bc5b71e0893e00010002c5")
EDDYSTONE_UUID = "0000feaa-0000-1000-8000-00805f9b34fb"
EDDYSTONE_UID = bytes.fromhex("00e8" + "0102030405060708090a" + "0b0c0d0e0f10")
WAIT = 15.0  # upper bound for anything we poll for; normally milliseconds
ADAPTER = "/org/bluez/hci0"

# fast backoff so retries happen within a test
FAST: dict[str, Any] = {"retry_initial": 0.05, "retry_max": 0.2, "stop_timeout": 5.0}


async def wait_until(pred: Callable[[], bool], what: str, timeout: float = WAIT) -> None:
    deadline = time.monotonic() + timeout
    while not pred():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout} s waiting for {what}")
        await asyncio.sleep(0.01)


async def next_beacon(agen: AsyncIterator[Advert]) -> Advert:
    """The next advert carrying beacon data (a device appearing is reported without)."""
    while True:
        advert = await anext(agen)
        if advert.manufacturer_data or advert.service_data:
            return advert


class Collector:
    """Iterates `source.adverts()` in a task, as the daemon does, keeping what arrives."""

    def __init__(self, source: BleakSource) -> None:
        self.adverts: list[Advert] = []
        self._task = asyncio.ensure_future(self._run(source.adverts()))

    async def _run(self, agen: AsyncIterator[Advert]) -> None:
        async for advert in agen:
            self.adverts.append(advert)

    async def heard(self, fb: FakeBluez, path: str, rssi: int) -> Advert:
        """Advertise an iBeacon at `rssi` every 20 ms until it arrives (bounded by WAIT)."""
        seen = len(self.adverts)
        deadline = time.monotonic() + WAIT
        while time.monotonic() < deadline:
            assert not self._task.done(), "adverts() ended"
            for advert in self.adverts[seen:]:
                if advert.rssi == rssi and advert.manufacturer_data == {76: IBEACON}:
                    return advert
            seen = len(self.adverts)
            fb.advertise(path, rssi=rssi, manufacturer_data={0x004C: IBEACON})
            await asyncio.sleep(0.02)
        raise AssertionError(f"no advert at {rssi} dBm within {WAIT} s")

    async def close(self) -> None:
        """Cancel the consumer, as the daemon does on shutdown: the scanner stops."""
        self._task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await self._task


def our_records(caplog: pytest.LogCaptureFixture) -> list[logging.LogRecord]:
    return [r for r in caplog.records if r.name == LOGGER]


def warnings_of(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [r.getMessage() for r in our_records(caplog) if r.levelno >= logging.WARNING]


def assert_no_mac_logged(caplog: pytest.LogCaptureFixture) -> None:
    """No form of the MAC (any case; colons, underscores or nothing between) in the log."""
    hexes = MAC.replace(":", "").lower()
    for text in [caplog.text, *(r.getMessage() for r in caplog.records)]:
        flat = text.lower().replace(":", "").replace("_", "").replace("-", "")
        assert hexes not in flat


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
            health = source.health()
            assert health["state"] == "scanning"
            assert 0 <= float(health["seconds_since_last_advert"]) < WAIT
            await agen.aclose()
            return a, b

        a, b = asyncio.run(main())
        calls = fb.calls(ADAPTER)

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
            agen = source.adverts()
            task = asyncio.ensure_future(next_beacon(agen))
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
            advert = await asyncio.wait_for(task, WAIT)
            await agen.aclose()
            return advert

        advert = asyncio.run(main())

    assert advert.manufacturer_data == {76: IBEACON}
    assert source.last_error is None
    warnings = warnings_of(caplog)
    # loud once when it fails, once when it recovers; the repeats are not
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
            agen = source.adverts()
            task = asyncio.ensure_future(next_beacon(agen))
            await wait_until(lambda: source.restarts >= 2, "two failed starts")
            assert source.state == "retrying"
            assert not task.done()
            assert "adapter" in (source.last_error or "")

            fb.add_adapter()
            path = fb.add_device(MAC, "beacon")
            await wait_until(lambda: source.state == "scanning", "scanner started")
            fb.advertise(path, rssi=-49, manufacturer_data={0x004C: IBEACON})
            advert = await asyncio.wait_for(task, WAIT)
            await agen.aclose()
            return advert

        advert = asyncio.run(main())

    assert advert.rssi == -49
    assert advert.manufacturer_data == {76: IBEACON}


@needs_dbus
@pytest.mark.timeout(60)
@pytest.mark.parametrize("stale", [False, True], ids=["once", "until-stopped"])
def test_start_discovery_in_progress_is_stopped_and_retried(
    tmp_path: Path, stale: bool, caplog: pytest.LogCaptureFixture
) -> None:
    """InProgress on StartDiscovery: StopDiscovery on bleak's connection, then start again.

    "until-stopped" is BlueZ holding a discovery session of this client: only
    a StopDiscovery from the same connection lets a start work again.
    """
    caplog.set_level(logging.DEBUG, logger=LOGGER)
    with fake_bluez(tmp_path) as fb:
        path = fb.add_device(MAC, "beacon")
        if stale:
            fb.fail_start_discovery(until_stop=True)
        else:
            fb.fail_start_discovery(1)
        source = BleakSource(adapter="hci0", stall_timeout=None, **FAST)

        async def main() -> Advert:
            consumer = Collector(source)
            advert = await consumer.heard(fb, path, rssi=-55)
            await consumer.close()
            return advert

        advert = asyncio.run(main())
        calls = [c for c in fb.calls(ADAPTER) if c in ("StartDiscovery", "StopDiscovery")]

    assert advert.manufacturer_data == {76: IBEACON}
    # failed start, the stale session ended on the same connection, a start that works
    assert calls[:3] == ["StartDiscovery", "StopDiscovery", "StartDiscovery"], calls
    assert source.restarts == 1 and source.power_cycles == 0
    warnings = warnings_of(caplog)
    assert len(warnings) == 2, warnings
    assert "InProgress" in warnings[0] and "started after 1 failed" in warnings[1]
    assert_no_mac_logged(caplog)


@needs_dbus
@pytest.mark.timeout(60)
def test_persistent_in_progress_power_cycles_the_adapter(tmp_path: Path) -> None:
    with fake_bluez(tmp_path) as fb:
        path = fb.add_device(MAC, "beacon")
        fb.fail_start_discovery(3)
        source = BleakSource(
            adapter="hci0", stall_timeout=None, in_progress_limit=3, power_off_s=0.01, **FAST
        )

        async def main() -> Advert:
            consumer = Collector(source)
            advert = await consumer.heard(fb, path, rssi=-55)
            await consumer.close()
            return advert

        assert asyncio.run(main()).rssi == -55
        assert fb.powered_sets() == [False, True]
    assert source.power_cycles == 1 and source.restarts == 3


@needs_dbus
@pytest.mark.timeout(60)
def test_adapter_removed_and_back(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG, logger=LOGGER)
    with fake_bluez(tmp_path) as fb:
        path = fb.add_device(MAC, "beacon")
        source = BleakSource(adapter="hci0", stall_timeout=None, **FAST)

        async def main() -> Advert:
            consumer = Collector(source)
            await consumer.heard(fb, path, rssi=-60)
            fb.remove_adapter()
            # seen at once (InterfacesRemoved), not after a stall timeout
            await wait_until(lambda: source.state == "retrying", "restart attempts")
            assert source.last_error  # bleak: "adapter not found" or UnknownMethod
            await wait_until(lambda: source.restarts >= 3, "a few failed starts")
            fb.add_adapter()
            advert = await consumer.heard(fb, path, rssi=-61)
            await consumer.close()
            return advert

        advert = asyncio.run(main())

    assert advert.rssi == -61
    assert source.power_cycles == 0
    warnings = warnings_of(caplog)
    assert len(warnings) == 3, warnings  # interrupted, cannot start, started again
    assert "adapter removed" in warnings[0]
    assert_no_mac_logged(caplog)


@needs_dbus
@pytest.mark.timeout(60)
def test_bluez_restarted(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG, logger=LOGGER)
    with fake_bluez(tmp_path) as fb:
        path = fb.add_device(MAC, "beacon")
        source = BleakSource(adapter="hci0", stall_timeout=None, **FAST)

        async def main() -> Advert:
            consumer = Collector(source)
            await consumer.heard(fb, path, rssi=-60)
            await asyncio.to_thread(fb.stop_bluez)
            await wait_until(lambda: source.state == "retrying", "restart attempts")
            await asyncio.to_thread(fb.start_bluez)  # comes back empty
            assert fb.add_device(MAC, "beacon") == path
            fb.add_adapter()
            advert = await consumer.heard(fb, path, rssi=-62)
            await consumer.close()
            return advert

        advert = asyncio.run(main())

    assert advert.rssi == -62
    warnings = warnings_of(caplog)
    assert "BlueZ left the bus" in warnings[0]
    assert len(warnings) <= 3, warnings
    assert_no_mac_logged(caplog)


@needs_dbus
@pytest.mark.timeout(60)
def test_dbus_restarted(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG, logger=LOGGER)
    with fake_bluez(tmp_path) as fb:
        path = fb.add_device(MAC, "beacon")
        source = BleakSource(adapter="hci0", stall_timeout=None, **FAST)

        async def main() -> Advert:
            consumer = Collector(source)
            await consumer.heard(fb, path, rssi=-60)
            await asyncio.to_thread(fb.restart_bus)
            await wait_until(lambda: source.state != "scanning", "the loss noticed")
            assert fb.add_device(MAC, "beacon") == path
            fb.add_adapter()
            advert = await consumer.heard(fb, path, rssi=-63)
            await consumer.close()
            return advert

        advert = asyncio.run(main())

    assert advert.rssi == -63
    assert "connection lost" in warnings_of(caplog)[0]
    assert_no_mac_logged(caplog)


@needs_dbus
@pytest.mark.timeout(60)
def test_bleak_losing_track_of_the_adapter_is_resynced(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """bleak's manager can miss an adapter for good (signals that arrive while it
    reconnects are wiped by its GetManagedObjects reply); the source notices
    that BlueZ has the adapter and makes bleak reconnect."""
    caplog.set_level(logging.DEBUG, logger=LOGGER)
    with fake_bluez(tmp_path) as fb:
        path = fb.add_device(MAC, "beacon")
        source = BleakSource(adapter="hci0", stall_timeout=None, **FAST)

        async def main() -> Advert:
            consumer = Collector(source)
            await consumer.heard(fb, path, rssi=-60)
            manager = await get_global_bluez_manager()
            manager._properties.pop(ADAPTER)  # what that race leaves behind
            manager._adapters.discard(ADAPTER)
            fb.set_powered(False)  # any restart will do
            advert = await consumer.heard(fb, path, rssi=-66)
            await consumer.close()
            return advert

        assert asyncio.run(main()).rssi == -66
    assert any("lost track" in r.getMessage() for r in our_records(caplog))
    assert_no_mac_logged(caplog)


@needs_dbus
@pytest.mark.timeout(60)
def test_adapter_powered_off_is_powered_on_again(tmp_path: Path) -> None:
    """Someone powers the adapter off: StartDiscovery says NotReady; the source powers it on."""
    with fake_bluez(tmp_path) as fb:
        path = fb.add_device(MAC, "beacon")
        source = BleakSource(adapter="hci0", stall_timeout=None, **FAST)

        async def main() -> Advert:
            consumer = Collector(source)
            await consumer.heard(fb, path, rssi=-60)
            fb.set_powered(False)
            await wait_until(lambda: source.restarts >= 2, "restart, NotReady")
            advert = await consumer.heard(fb, path, rssi=-64)
            await consumer.close()
            return advert

        assert asyncio.run(main()).rssi == -64
        assert fb.powered_sets() == [False, True]  # ours, then the source's
    assert source.power_cycles == 0


@needs_dbus
@pytest.mark.timeout(60)
def test_watchdog_restarts_then_power_cycles_a_deaf_adapter(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """Adverts had been flowing, then none: a restart does not help, a power cycle does."""
    caplog.set_level(logging.DEBUG, logger=LOGGER)
    with fake_bluez(tmp_path) as fb:
        path = fb.add_device(MAC, "beacon")
        source = BleakSource(adapter="hci0", stall_timeout=0.3, power_off_s=0.05, **FAST)

        async def main() -> Advert:
            consumer = Collector(source)
            await consumer.heard(fb, path, rssi=-60)
            fb.go_deaf()
            deaf_at = time.monotonic()
            # `heard` keeps advertising: nothing gets through until the power cycle
            advert = await consumer.heard(fb, path, rssi=-65)
            assert time.monotonic() - deaf_at >= 0.6  # two stall periods
            await consumer.close()
            return advert

        advert = asyncio.run(main())
        calls = fb.calls_with_args(ADAPTER)
        names = [name for name, _ in calls]

    assert advert.rssi == -65
    assert (source.restarts, source.power_cycles) == (2, 1)
    # a restart first (stop, start), then power off and on, then a start again
    first_set = names.index("Set")
    assert names[:first_set].count("StartDiscovery") == 2
    assert [args[2] for name, args in calls if name == "Set"] == [False, True]
    assert "StartDiscovery" in names[first_set:]
    messages = [r.getMessage() for r in our_records(caplog)]
    assert any("restarting the scanner" in m for m in messages)
    assert any("power-cycling" in m for m in messages)
    assert any("flowing again" in m for m in messages)
    assert_no_mac_logged(caplog)


@needs_dbus
@pytest.mark.timeout(60)
def test_watchdog_leaves_an_adapter_with_nothing_to_hear_alone(tmp_path: Path) -> None:
    """An empty store: no adverts ever, so no restarts and no power cycles."""
    with fake_bluez(tmp_path) as fb:
        source = BleakSource(adapter="hci0", stall_timeout=0.1, **FAST)

        async def main() -> None:
            task = asyncio.ensure_future(anext(source.adverts()))
            await wait_until(lambda: source.state == "scanning", "scanner started")
            await asyncio.sleep(0.6)  # six stall periods
            assert source.state == "scanning"
            health = source.health()
            task.cancel()
            with pytest.raises(asyncio.CancelledError):
                await task
            assert health["seconds_since_last_advert"] == -1.0

        asyncio.run(main())
        calls = fb.calls(ADAPTER)
        assert fb.powered_sets() == []

    assert (source.restarts, source.power_cycles) == (0, 0)
    assert calls.count("StartDiscovery") == 1


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
    assert len(warnings_of(caplog)) == 1


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
    assert [a.rssi for a in queued if a is not None] == [-50, -51]  # the oldest are kept
    assert queued[0] is not None and queued[0].manufacturer_data == {76: IBEACON}
    assert queued[0].service_uuids == ()
    health = source.health()
    assert set(health) == {
        "state",
        "adverts_seen",
        "dropped",
        "restarts",
        "power_cycles",
        "last_error",
        "seconds_since_last_advert",
    }
    assert (health["state"], health["adverts_seen"], health["dropped"]) == ("stopped", 10, 8)
    assert health["last_error"] == ""


def test_rejects_bad_configuration() -> None:
    with pytest.raises(ValueError, match="scanning_mode"):
        BleakSource(scanning_mode="loud")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="maxsize"):
        BleakSource(maxsize=0)
    with pytest.raises(ValueError, match="or_pattern"):
        BleakSource(scanning_mode="passive", or_patterns=())
    with pytest.raises(ValueError, match="stall_timeout"):
        BleakSource(stall_timeout=0)
    with pytest.raises(ValueError, match="in_progress_limit"):
        BleakSource(in_progress_limit=0)
