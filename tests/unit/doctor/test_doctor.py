"""`omo-edge doctor` against real broken setups: each problem gives its FAIL line and a
non-zero exit; a healthy device gives none. The verdicts themselves are pure and tested
directly below."""

from __future__ import annotations

import datetime as dt
import os
import shutil
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from edge.config.load import load as load_config
from edge.doctor import (
    ADAPTER_IFACE,
    MONITOR_IFACE,
    Finding,
    backlog_verdict,
    bluetooth_verdict,
    bluetoothd_experimental,
    check_broker,
    check_state_dir,
    disk_verdict,
    display_verdict,
    tls_verdict,
)
from edge.health import DiskSpace, FrameRate, cpu_temperature_c, parse_meminfo
from edge.provision import pki
from edge.sim.broker import Mosquitto, free_port
from tests.support.config import write_config
from tests.support.disk import fill
from tests.support.fake_bluez import fake_bluez

pytestmark = pytest.mark.timeout(90)

MB = 1000 * 1000
GB = 1000 * MB


def run_doctor(config: Path, env: dict[str, str] | None = None) -> tuple[int, list[str]]:
    done = subprocess.run(
        [sys.executable, "-m", "edge.cli", "doctor", "--config", str(config)],
        env=env if env is not None else dict(os.environ),
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    return done.returncode, done.stdout.splitlines()


def lines(out: list[str], status: str, check: str) -> list[str]:
    return [ln for ln in out if ln.split()[:2] == [status, check.split(maxsplit=1)[0]]]


@pytest.fixture
def healthy(tmp_path: Path, device_config: Callable[..., Path]) -> Callable[..., Path]:
    """A provisioned, headless device on the test broker with a private state dir."""

    def make(**tables: dict[str, Any]) -> Path:
        state = tmp_path / "state"
        state.mkdir(mode=0o700, exist_ok=True)
        return device_config(**tables)

    return make


# -- whole command, real setups ---------------------------------------------------------
def test_a_healthy_device_has_no_fail_line(healthy: Callable[..., Path], broker: Mosquitto) -> None:
    code, out = run_doctor(healthy())
    assert not [ln for ln in out if ln.startswith("FAIL")], out
    assert code == 0
    assert lines(out, "OK", "broker"), out
    assert any("skipped" in ln for ln in lines(out, "OK", "bluetooth")), out
    assert lines(out, "OK", "display") and "dummy" in lines(out, "OK", "display")[0]
    for check in ("config", "state", "disk", "outbox", "tls"):
        assert lines(out, "OK", check), (check, out)


def test_the_first_line_says_which_config_and_warns_on_built_in_defaults(
    healthy: Callable[..., Path], tmp_path: Path
) -> None:
    config = healthy()
    _code, out = run_doctor(config)
    assert out[0].split()[:2] == ["OK", "config"]
    assert f"{config} loads and is valid; state in {tmp_path / 'state'}" in out[0]
    defaults = subprocess.run(
        [sys.executable, "-m", "edge.cli", "doctor"],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    first = defaults.stdout.splitlines()[0]
    assert first.startswith("WARN  config     built-in defaults (no --config); state in ")
    assert "What to do: give the service's config: --config /etc/omo-edge/edge.toml" in first


def test_unreachable_broker_fails(healthy: Callable[..., Path]) -> None:
    closed = free_port()  # nothing listens there
    code, out = run_doctor(healthy(mqtt={"host": "127.0.0.1", "port": closed}))
    assert code != 0
    [fail] = lines(out, "FAIL", "broker")
    assert f"cannot reach 127.0.0.1:{closed}" in fail and "What to do:" in fail


def test_every_node_of_a_clustered_broker_is_tried_and_a_silent_one_named(
    healthy: Callable[..., Path], broker: Mosquitto
) -> None:
    """The broker listens on 127.0.0.1 only: 127.0.0.2 stands for a node that is down."""
    both = check_broker(load_config(healthy(mqtt={"hosts": ["127.0.0.1", "localhost"]})))
    assert both.status == "OK" and "every node" in both.found
    assert f"127.0.0.1:{broker.port}" in both.found and f"localhost:{broker.port}" in both.found
    one = check_broker(load_config(healthy(mqtt={"hosts": ["127.0.0.1", "127.0.0.2"]})))
    assert one.status == "WARN" and "1 of 2 nodes" in one.found
    assert f"cannot reach 127.0.0.2:{broker.port}" in one.found and "fails over" in one.todo
    none = check_broker(
        load_config(healthy(mqtt={"hosts": ["127.0.0.2", "127.0.0.3"], "host": ""}))
    )
    assert none.status == "FAIL" and "no node accepts this device" in none.found


def test_unprovisioned_device_is_a_warning_not_a_failure(
    healthy: Callable[..., Path],
) -> None:
    code, out = run_doctor(healthy(device={"store_id": "", "device_id": ""}))
    assert lines(out, "WARN", "broker") and "not provisioned" in lines(out, "WARN", "broker")[0]
    assert code == 0, out


def _tls_files(folder: Path, device_id: str, days: float) -> dict[str, str]:
    ca = pki.new_ca("test store CA")
    key = pki.new_key()
    cert = pki.sign_csr(pki.make_csr(key, device_id), ca, expected_cn=device_id, days=days)
    folder.mkdir(mode=0o700, exist_ok=True)
    paths = {"tls_ca": folder / "ca.pem", "tls_cert": folder / "cert.pem"}
    paths["tls_key"] = folder / "key.pem"
    paths["tls_ca"].write_bytes(ca.cert_pem)
    paths["tls_cert"].write_bytes(cert)
    paths["tls_key"].write_bytes(pki.key_pem(key))
    paths["tls_key"].chmod(0o600)
    return {k: str(v) for k, v in paths.items()}


@pytest.mark.parametrize(
    ("days", "status", "words"), [(-0.001, "FAIL", "expired"), (365, "OK", "")]
)
def test_expired_client_certificate_fails(
    tmp_path: Path, healthy: Callable[..., Path], days: float, status: str, words: str
) -> None:
    tls = _tls_files(tmp_path / "state", "screen-1", days)
    code, out = run_doctor(healthy(mqtt=tls))
    found = lines(out, status, "tls")
    assert found and words in found[0], out
    if status == "FAIL":
        assert code != 0
        assert "client certificate expired on" in found[0]


def test_private_key_readable_by_others_fails(tmp_path: Path, healthy: Callable[..., Path]) -> None:
    config = healthy()
    key = tmp_path / "state" / "device-key.pem"
    key.write_bytes(pki.key_pem(pki.new_key()))
    key.chmod(0o644)
    code, out = run_doctor(config)
    assert code != 0
    assert any(str(key) in ln and "chmod 600" in ln for ln in lines(out, "FAIL", "state dir"))


@pytest.mark.skipif(shutil.which("dbus-daemon") is None, reason="dbus-daemon not installed")
def test_missing_bluetooth_adapter_fails_and_a_powered_one_passes(
    tmp_path: Path, healthy: Callable[..., Path]
) -> None:
    config = healthy(presence={"source": "bleak", "adapter": ""})
    with fake_bluez(tmp_path / "bluez", adapter=False) as fb:
        env = {**os.environ, "DBUS_SYSTEM_BUS_ADDRESS": fb.address}
        code, out = run_doctor(config, env)
        assert code != 0
        [fail] = lines(out, "FAIL", "bluetooth")
        assert "no Bluetooth adapter" in fail and "rfkill" in fail
        fb.add_adapter("hci0")  # the dongle plugged in
        code, out = run_doctor(config, env)
        assert [ln for ln in lines(out, "OK", "bluetooth") if "hci0 present and powered" in ln]
        assert code == 0, out
        fb.set_powered(False)
        code, out = run_doctor(config, env)
        assert code != 0 and "switched off" in lines(out, "FAIL", "bluetooth")[0]


def test_no_bluez_on_the_bus_fails(tmp_path: Path, healthy: Callable[..., Path]) -> None:
    if shutil.which("dbus-daemon") is None:
        pytest.skip("dbus-daemon not installed")
    config = healthy(presence={"source": "bleak"})
    with fake_bluez(tmp_path / "bluez", bluez=False) as fb:
        code, out = run_doctor(config, {**os.environ, "DBUS_SYSTEM_BUS_ADDRESS": fb.address})
    assert code != 0
    assert "bluetoothd) is not running" in lines(out, "FAIL", "bluetooth")[0]


def test_full_disk_fails(small_disk: Path, healthy: Callable[..., Path]) -> None:
    config = healthy(storage={"path": str(small_disk / "outbox.sqlite3")})
    fill(small_disk)
    code, out = run_doctor(config)
    assert code != 0
    [fail] = lines(out, "FAIL", "disk")
    assert "0 B free" in fail and "free space" in fail


@pytest.mark.skipif(Path("/dev/dri").exists(), reason="this machine can drive a screen")
def test_a_screen_device_without_a_display_driver_fails(healthy: Callable[..., Path]) -> None:
    config = healthy(display={"headless": False})
    env = {
        k: v
        for k, v in os.environ.items()
        if k not in ("SDL_VIDEODRIVER", "DISPLAY", "WAYLAND_DISPLAY")
    }
    code, out = run_doctor(config, env)
    assert code != 0
    [fail] = lines(out, "FAIL", "display")
    assert "kmsdrm" in fail and "headless = true" in fail


def test_a_broken_config_fails_and_stops_there(tmp_path: Path) -> None:
    config = write_config(tmp_path / "bad.toml", {"mqtt": {"port": 99999}, "typo": {"x": 1}})
    code, out = run_doctor(config)
    assert code != 0
    assert len(out) == 1 and "mqtt.port" in out[0] and out[0].startswith("FAIL  config")


# -- pure verdicts ----------------------------------------------------------------------
def _material(days: float = 365, cn: str = "screen-1") -> tuple[bytes, bytes, bytes]:
    ca = pki.new_ca("ca")
    key = pki.new_key()
    cert = pki.sign_csr(pki.make_csr(key, cn), ca, expected_cn=cn, days=days)
    return ca.cert_pem, cert, pki.key_pem(key)


def _only(findings: list[Finding]) -> Finding:
    assert len(findings) == 1, findings
    return findings[0]


def test_tls_verdicts() -> None:
    now = dt.datetime.now(dt.UTC)  # before the certificates are made
    ca, cert, key = _material()
    assert _only(tls_verdict(ca, cert, key, "screen-1", now)).status == "OK"
    assert "expired" in _only(tls_verdict(*_material(days=-0.001), "screen-1", now)).found
    soon = _only(tls_verdict(*_material(days=10.5), "screen-1", now))
    assert soon.status == "WARN" and "in 10 days" in soon.found
    wrong_cn = _only(tls_verdict(ca, cert, key, "screen-2", now))
    assert wrong_cn.status == "FAIL" and "'screen-2'" in wrong_cn.found
    other_ca, _, other_key = _material()
    assert "not issued by the CA" in _only(tls_verdict(other_ca, cert, key, "screen-1", now)).found
    assert "does not belong" in _only(tls_verdict(ca, cert, other_key, "screen-1", now)).found
    assert "needs its key" in _only(tls_verdict(ca, cert, None, "screen-1", now)).found
    garbage = _only(tls_verdict(b"not a pem", cert, key, "screen-1", now))
    assert garbage.status == "FAIL" and "CA file" in garbage.found
    early = tls_verdict(ca, cert, key, "screen-1", now - dt.timedelta(hours=1))
    assert [f.status for f in early] == ["FAIL", "FAIL"]  # CA and certificate: clock wrong?
    assert "client certificate is not valid before" in early[1].found


@pytest.mark.parametrize(
    ("free", "total", "status"),
    [
        (30 * MB, 32 * GB, "FAIL"),  # under 50 MB
        (int(1.5 * GB), 32 * GB, "FAIL"),  # under 5 %
        (5 * GB, 32 * GB, "WARN"),  # under 20 %
        (20 * GB, 32 * GB, "OK"),
        (70 * MB, 100 * MB, "OK"),
    ],
)
def test_disk_verdict(free: int, total: int, status: str) -> None:
    assert disk_verdict(DiskSpace(free, total), Path("/var/lib/omo-edge")).status == status


def test_backlog_verdict() -> None:
    now = 1_800_000_000_000
    fresh = {"pending": 12, "inflight": 3, "dropped": {}, "oldest_pending_ts": now - 5000}
    assert backlog_verdict(fresh, now, 1_000_000).status == "OK"
    old = {**fresh, "oldest_pending_ts": now - 3 * 3600 * 1000}
    stuck = backlog_verdict(old, now, 1_000_000)
    assert stuck.status == "WARN" and "3 h old" in stuck.found
    full = {**fresh, "pending": 900, "dropped": {"visit.dwell": 7}}
    near = backlog_verdict(full, now, 1000)
    assert near.status == "WARN" and "max_events" in near.todo and "7 dropped" in near.found


def _adapter(powered: bool = True, monitor: bool = True) -> dict[str, dict[str, Any]]:
    ifaces: dict[str, dict[str, Any]] = {ADAPTER_IFACE: {"Powered": powered}}
    if monitor:
        ifaces[MONITOR_IFACE] = {}
    return ifaces


def test_bluetooth_verdicts() -> None:
    objs = {"/org/bluez/hci0": _adapter(), "/org/bluez/hci0/dev_X": {"org.bluez.Device1": {}}}
    assert [f.status for f in bluetooth_verdict(objs, "", False, False)] == ["OK"]
    named = _only(bluetooth_verdict(objs, "hci1", False, False))
    assert named.status == "FAIL" and "BlueZ has: hci0" in named.found
    off = _only(bluetooth_verdict({"/org/bluez/hci0": _adapter(powered=False)}, "", False, False))
    assert off.status == "FAIL" and "bluetoothctl power on" in off.todo
    old = {"/org/bluez/hci0": _adapter(monitor=False)}
    passive = bluetooth_verdict(old, "hci0", True, False)
    assert passive[-1].status == "FAIL" and "--experimental" in passive[-1].found
    assert bluetooth_verdict(old, "hci0", True, True)[-1].status == "OK"
    assert bluetooth_verdict(old, "hci0", False, False)[-1].status == "OK"


def test_bluetoothd_experimental_reads_the_running_daemons_command_line(tmp_path: Path) -> None:
    (tmp_path / "1").mkdir()
    (tmp_path / "1" / "cmdline").write_bytes(b"/sbin/init\0")
    (tmp_path / "77").mkdir()
    (tmp_path / "77" / "cmdline").write_bytes(b"/usr/libexec/bluetooth/bluetoothd\0")
    assert not bluetoothd_experimental(tmp_path)
    (tmp_path / "77" / "cmdline").write_bytes(b"/usr/libexec/bluetooth/bluetoothd\0-E\0")
    assert bluetoothd_experimental(tmp_path)


def test_display_verdicts() -> None:
    wheel = ["x11", "wayland", "offscreen", "dummy"]
    no_kms = display_verdict(False, None, wheel, ["offscreen", "dummy"], None)
    assert no_kms.status == "FAIL" and "python3-pygame" in no_kms.todo
    broken_kms = display_verdict(False, None, ["kmsdrm", *wheel], ["dummy"], None)
    assert broken_kms.status == "FAIL" and "/dev/dri" in broken_kms.todo
    kms = display_verdict(False, None, ["kmsdrm", *wheel], ["kmsdrm", "dummy"], "kmsdrm")
    assert kms.status == "OK" and "uses kmsdrm" in kms.found
    assert "uses dummy" in display_verdict(True, None, wheel, ["dummy"], None).found
    forced = display_verdict(False, "kmsdrm", wheel, ["dummy"], None)
    assert forced.status == "FAIL" and "SDL_VIDEODRIVER=kmsdrm" in forced.found


def test_state_dir_permissions(tmp_path: Path) -> None:
    state = tmp_path / "state"
    state.mkdir(mode=0o700)
    key = state / "key.pem"
    key.write_bytes(pki.key_pem(pki.new_key()))
    key.chmod(0o600)
    assert _only(check_state_dir(state, [key])).status == "OK"
    key.chmod(0o640)
    assert "chmod 600" in _only(check_state_dir(state, [key])).todo
    key.chmod(0o600)
    state.chmod(0o755)
    assert _only(check_state_dir(state, [key])).status == "WARN"
    state.chmod(0o777)
    assert _only(check_state_dir(state, [key])).status == "FAIL"
    assert _only(check_state_dir(tmp_path / "not-yet", [])).status == "WARN"


def test_machine_figures(tmp_path: Path) -> None:
    for zone, milli in (("thermal_zone0", "48312\n"), ("thermal_zone1", "51000\n")):
        (tmp_path / zone).mkdir()
        (tmp_path / zone / "temp").write_text(milli)
    assert cpu_temperature_c(tmp_path) == 51.0
    assert cpu_temperature_c(tmp_path / "none") is None
    info = parse_meminfo("MemTotal:  3884 kB\nMemAvailable:  1024 kB\nHugePages_Total: 0\n")
    assert info["MemAvailable"] == 1024 * 1024 and info["HugePages_Total"] == 0
    rate = FrameRate(100, 10.0)
    assert rate.update(400, 20.0) == 30.0
    assert rate.update(400, 30.0) == 0.0
