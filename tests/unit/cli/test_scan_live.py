"""`omo-edge scan` live: a real process scanning a fake BlueZ, printing and recording."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from edge.errors import TraceLineError
from edge.presence.advert import Advert
from edge.presence.record import TraceRecorder
from edge.presence.trace import read_trace
from tests.support.config import write_config
from tests.support.fake_bluez import FakeBluez, fake_bluez

needs_dbus = pytest.mark.skipif(
    shutil.which("dbus-daemon") is None, reason="dbus-daemon is not installed"
)

MAC = "C4:7C:8D:6A:11:02"
IBEACON = bytes.fromhex("0215f7826da64fa24e988024bc5b71e0893e00010002c5")
VISITOR = "ibeacon:f7826da6-4fa2-4e98-8024-bc5b71e0893e:1:2"
ADAPTER = "/org/bluez/hci0"
WAIT = 15.0


def mac_forms_absent(text: str, where: str) -> None:
    """The MAC in no form: any case, with colons, underscores, dashes or nothing between."""
    flat = text.lower().replace(":", "").replace("_", "").replace("-", "")
    assert MAC.replace(":", "").lower() not in flat, f"MAC address found in {where}"


def start_scan(tmp_path: Path, fb: FakeBluez, *args: str) -> subprocess.Popen[str]:
    config = write_config(tmp_path / "edge.toml", {"presence": {"adapter": "hci0"}})
    return subprocess.Popen(
        [sys.executable, "-m", "edge.cli", "scan", "--config", str(config), *args],
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=dict(os.environ, DBUS_SYSTEM_BUS_ADDRESS=fb.address),
    )


def wait_for_discovery(fb: FakeBluez, proc: subprocess.Popen[str]) -> None:
    deadline = time.monotonic() + WAIT
    while "StartDiscovery" not in fb.calls(ADAPTER):
        assert proc.poll() is None, "scan exited before it started scanning"
        assert time.monotonic() < deadline, "scan never started discovery"
        time.sleep(0.02)


def advertise_near(fb: FakeBluez, path: str, proc: subprocess.Popen[str], count: int) -> int:
    """An iBeacon held close to the adapter: `count` adverts, 25 ms apart."""
    sent = 0
    while sent < count and proc.poll() is None:
        fb.advertise(path, rssi=-50, manufacturer_data={0x004C: IBEACON})
        sent += 1
        time.sleep(0.025)
    return sent


def finish(proc: subprocess.Popen[str]) -> tuple[str, str]:
    try:
        return proc.communicate(timeout=WAIT)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate(timeout=5)


@needs_dbus
@pytest.mark.timeout(60)
def test_live_scan_prints_beacons_and_visits_and_records_without_the_mac(
    tmp_path: Path,
) -> None:
    record = tmp_path / "heard.jsonl"
    with fake_bluez(tmp_path) as fb:
        path = fb.add_device(MAC, "beacon")
        proc = start_scan(tmp_path, fb, "--seconds", "3", "--json", "--record", str(record))
        try:
            wait_for_discovery(fb, proc)
            sent = advertise_near(fb, path, proc, 40)
        finally:
            out, err = finish(proc)

    assert proc.returncode == 0, err
    assert sent == 40
    lines = [json.loads(line) for line in out.splitlines()]
    assert all("type" in line and "t" in line for line in lines)
    beacons = [line for line in lines if line["type"] == "beacon"]
    assert beacons and all(b["beacon"] == VISITOR and b["rssi"] == -50 for b in beacons)
    enters = [line for line in lines if line["type"] == "approach.enter"]
    assert [e["visitor"] for e in enters] == [VISITOR]  # a second close by: a trigger ...
    assert not [line for line in lines if line["type"] == "visit.enter"]  # ... not a visit
    assert enters[0]["zone"] in ("immediate", "near")
    # t is seconds since the scan started
    assert all(0 <= line["t"] < 10 for line in lines)
    counters = lines[-1]
    assert counters["type"] == "counters"
    assert counters["beacons"] == len(beacons) and counters["adverts"] >= len(beacons)
    assert counters["recorded"] == counters["adverts"]
    assert counters["dropped"] == 0 and counters["power_cycles"] == 0

    items = list(read_trace(record))
    assert not [i for i in items if isinstance(i, TraceLineError)]
    adverts = [i for i in items if isinstance(i, Advert)]
    assert len(adverts) == counters["recorded"]
    recorded_beacons = [a for a in adverts if a.manufacturer_data == {0x004C: IBEACON}]
    assert len(recorded_beacons) == len(beacons)
    assert all(a.rssi == -50 for a in recorded_beacons)
    times = [a.t for a in adverts]
    assert times == sorted(times) and times[0] >= 0
    # one device, one pseudonym: "h:" and 16 hex digits
    tokens = {a.address for a in adverts}
    assert len(tokens) == 1
    token = tokens.pop()
    assert token.startswith("h:") and len(token) == 18
    int(token[2:], 16)

    for text, where in [(out, "stdout"), (err, "stderr"), (record.read_text(), "the recording")]:
        mac_forms_absent(text, where)


@needs_dbus
@pytest.mark.timeout(60)
@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGINT], ids=["SIGTERM", "Ctrl-C"])
def test_live_scan_stops_cleanly_on_a_signal(tmp_path: Path, signum: int) -> None:
    with fake_bluez(tmp_path) as fb:
        path = fb.add_device(MAC, "beacon")
        proc = start_scan(tmp_path, fb)  # no --seconds: runs until told to stop
        try:
            wait_for_discovery(fb, proc)
            advertise_near(fb, path, proc, 40)
            proc.send_signal(signum)
        finally:
            out, err = finish(proc)
        calls = fb.calls(ADAPTER)

    assert proc.returncode == 0, err
    assert "Traceback" not in err
    lines = out.splitlines()  # text output: a line per beacon and event, then JSON
    assert [ln.split()[2] for ln in lines if ln.split()[1] == "approach.enter"] == [VISITOR]
    assert any(ln.split()[1:] == ["beacon", VISITOR, "-50", "dBm"] for ln in lines), out
    counters = json.loads(lines[-1])
    assert counters["type"] == "counters" and counters["restarts"] == 0
    assert calls.count("StopDiscovery") == calls.count("StartDiscovery") == 1
    mac_forms_absent(out + err, "the output")


def test_record_cannot_be_combined_with_replay(tmp_path: Path) -> None:
    out = subprocess.run(
        [sys.executable, "-m", "edge.cli", "scan", "--replay", "x", "--record", "y"],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert out.returncode == 2 and "not allowed with argument" in out.stderr


def test_recorder_pseudonyms_are_stable_within_a_recording_and_unlinkable_across(
    tmp_path: Path,
) -> None:
    with TraceRecorder(tmp_path / "a.jsonl") as a, TraceRecorder(tmp_path / "b.jsonl") as b:
        assert a.pseudonym(MAC) == a.pseudonym(MAC.lower())
        assert a.pseudonym(MAC) != a.pseudonym("C4:7C:8D:6A:11:03")
        assert a.pseudonym(MAC) != b.pseudonym(MAC)
        a.write(Advert(t=0.5, address=MAC, rssi=-60, manufacturer_data={76: IBEACON}))
        key = a._key
    text = (tmp_path / "a.jsonl").read_text()
    assert key.hex() not in text and key.hex() not in repr(a)
    mac_forms_absent(text, "the recording")
    (advert,) = read_trace(tmp_path / "a.jsonl")
    assert isinstance(advert, Advert)
    assert advert.address == a.pseudonym(MAC)
    assert (advert.t, advert.rssi, advert.manufacturer_data) == (0.5, -60, {76: IBEACON})
