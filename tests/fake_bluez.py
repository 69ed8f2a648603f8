"""A fake BlueZ on a private D-Bus, for driving the real bleak scanner without a radio.

`fake_bluez(tmp_path)` starts a private `dbus-daemon` (permissive policy, unix
socket in a short temp dir) and python-dbusmock's `bluez5` template on it, points
`DBUS_SYSTEM_BUS_ADDRESS` at it while active, and kills both processes on exit.
Adverts are injected by changing a mock device's properties with the mock's
`UpdateProperties`, which emits the `PropertiesChanged` signal bleak listens to.

Each step can be held back (`bluez=False`, `adapter=False`) and done later with
`start_bluez()` / `add_adapter()`, to test a scanner started before BlueZ is up.

Every wait is bounded; nothing inherits the test runner's stdout or stderr.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import dbus  # type: ignore[import-untyped]
import dbus.bus  # type: ignore[import-untyped]

BLUEZ = "org.bluez"
MOCK_IFACE = "org.freedesktop.DBus.Mock"
BLUEZ_MOCK_IFACE = "org.bluez.Mock"
DEVICE_IFACE = "org.bluez.Device1"

DAEMON_START_TIMEOUT = 10.0
BLUEZ_START_TIMEOUT = 15.0
STOP_TIMEOUT = 5.0
CALL_TIMEOUT = 10.0  # seconds, for each blocking call into the mock

_CONFIG = """<!DOCTYPE busconfig PUBLIC "-//freedesktop//DTD D-Bus Bus Configuration 1.0//EN"
 "http://www.freedesktop.org/standards/dbus/1.0/busconfig.dtd">
<busconfig>
  <type>system</type>
  <listen>unix:path={socket}</listen>
  <auth>EXTERNAL</auth>
  <policy context="default">
    <allow user="*"/>
    <allow own="*"/>
    <allow send_destination="*" eavesdrop="true"/>
    <allow receive_sender="*"/>
    <allow eavesdrop="true"/>
  </policy>
</busconfig>
"""


class FakeBluezError(RuntimeError):
    """The fake BlueZ could not be started; the message names the log to read."""


def _stop(proc: subprocess.Popen[bytes]) -> None:
    if proc.poll() is None:
        proc.terminate()
        try:
            proc.wait(timeout=STOP_TIMEOUT)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=STOP_TIMEOUT)


class FakeBluez:
    """Handle on a running fake BlueZ: the bus address and ways to add things to it."""

    def __init__(self, workdir: Path, address: str) -> None:
        self.address = address
        self._workdir = workdir
        self._procs: list[subprocess.Popen[bytes]] = []
        self._conn: Any = None
        self._logs: list[Any] = []

    # -- lifecycle -------------------------------------------------------

    def _connect(self) -> Any:
        if self._conn is None:
            self._conn = dbus.bus.BusConnection(self.address)
        return self._conn

    def _spawn(self, args: list[str], log_name: str) -> subprocess.Popen[bytes]:
        log = (self._workdir / log_name).open("wb")
        self._logs.append(log)
        env = dict(os.environ, DBUS_SYSTEM_BUS_ADDRESS=self.address)
        proc = subprocess.Popen(
            args, stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT, env=env
        )
        self._procs.append(proc)
        return proc

    def start_bluez(self) -> None:
        """Start python-dbusmock's bluez5 template and wait until org.bluez is owned."""
        proc = self._spawn(
            [sys.executable, "-m", "dbusmock", "--system", "-t", "bluez5"], "dbusmock.log"
        )
        conn = self._connect()
        deadline = time.monotonic() + BLUEZ_START_TIMEOUT
        while not conn.name_has_owner(BLUEZ):
            if proc.poll() is not None:
                raise FakeBluezError(f"dbusmock exited; see {self._workdir / 'dbusmock.log'}")
            if time.monotonic() > deadline:
                raise FakeBluezError(f"org.bluez not on the bus after {BLUEZ_START_TIMEOUT} s")
            time.sleep(0.02)

    def close(self) -> None:
        """Stop every process started, newest first, then release the connection and logs."""
        if self._conn is not None:
            with contextlib.suppress(Exception):
                self._conn.close()
            self._conn = None
        for proc in reversed(self._procs):
            _stop(proc)
        self._procs.clear()
        for log in self._logs:
            log.close()
        self._logs.clear()

    # -- the mock's API ----------------------------------------------------

    def _obj(self, path: str) -> Any:
        return self._connect().get_object(BLUEZ, path, introspect=False)

    def add_adapter(self, name: str = "hci0", alias: str = "omo-edge-test") -> str:
        """Add a powered adapter with the central role; returns its object path."""
        path: str = self._obj("/").AddAdapter(
            name, alias, dbus_interface=BLUEZ_MOCK_IFACE, timeout=CALL_TIMEOUT
        )
        return str(path)

    def add_device(self, mac: str, name: str, adapter: str = "hci0") -> str:
        """Add a device under `adapter`; returns its object path.

        Works around the bluez5 template creating ManufacturerData/ServiceData
        as arrays (bleak expects dicts: "'list' object has no attribute 'items'").
        """
        path = str(
            self._obj("/").AddDevice(
                adapter, mac, name, dbus_interface=BLUEZ_MOCK_IFACE, timeout=CALL_TIMEOUT
            )
        )
        self._update(
            path,
            {
                "ManufacturerData": dbus.Dictionary({}, signature="qv"),
                "ServiceData": dbus.Dictionary({}, signature="sv"),
            },
        )
        return path

    def advertise(
        self,
        path: str,
        rssi: int,
        manufacturer_data: Mapping[int, bytes] | None = None,
        service_data: Mapping[str, bytes] | None = None,
    ) -> None:
        """Inject one advert: set RSSI, ManufacturerData and ServiceData to exactly these.

        One `PropertiesChanged` signal carries all three, so bleak's detection
        callback fires once with the new values (even if none of them changed).
        """
        mfr = dbus.Dictionary(
            {
                dbus.UInt16(k): dbus.ByteArray(bytes(v))
                for k, v in (manufacturer_data or {}).items()
            },
            signature="qv",
        )
        svc = dbus.Dictionary(
            {dbus.String(k): dbus.ByteArray(bytes(v)) for k, v in (service_data or {}).items()},
            signature="sv",
        )
        self._update(path, {"RSSI": dbus.Int16(rssi), "ManufacturerData": mfr, "ServiceData": svc})

    def calls(self, path: str) -> list[str]:
        """Names of the methods called on the mock object at `path`, oldest first."""
        return [
            str(name)
            for _t, name, _args in self._obj(path).GetCalls(
                dbus_interface=MOCK_IFACE, timeout=CALL_TIMEOUT
            )
        ]

    def _update(self, path: str, props: Mapping[str, Any]) -> None:
        self._obj(path).UpdateProperties(
            DEVICE_IFACE,
            dbus.Dictionary(props, signature="sv"),
            dbus_interface=MOCK_IFACE,
            timeout=CALL_TIMEOUT,
        )


def _start_daemon(workdir: Path, socket_dir: Path) -> tuple[subprocess.Popen[bytes], str]:
    daemon = shutil.which("dbus-daemon")
    if daemon is None:
        raise FakeBluezError("dbus-daemon not found on PATH")
    config = workdir / "bus.conf"
    config.write_text(_CONFIG.format(socket=socket_dir / "bus"))
    addr_file = workdir / "bus.address"
    with addr_file.open("wb") as out, (workdir / "dbus-daemon.log").open("wb") as err:
        proc = subprocess.Popen(
            [daemon, "--nofork", f"--config-file={config}", "--print-address"],
            stdin=subprocess.DEVNULL,
            stdout=out,
            stderr=err,
        )
    deadline = time.monotonic() + DAEMON_START_TIMEOUT
    while True:
        text = addr_file.read_text()
        if text.endswith("\n"):
            return proc, text.strip()
        if proc.poll() is not None or time.monotonic() > deadline:
            _stop(proc)
            raise FakeBluezError(f"dbus-daemon did not start; see {workdir / 'dbus-daemon.log'}")
        time.sleep(0.01)


@contextlib.contextmanager
def fake_bluez(tmp_path: Path, *, bluez: bool = True, adapter: bool = True) -> Iterator[FakeBluez]:
    """A private system bus with a mock BlueZ (and adapter hci0), torn down on exit.

    `bluez=False` starts only the bus (call `start_bluez()` later); `adapter=False`
    starts BlueZ without an adapter (call `add_adapter()` later).
    """
    workdir = tmp_path / "fake-bluez"
    workdir.mkdir(parents=True, exist_ok=True)
    # unix socket paths are limited to ~107 bytes; pytest's tmp_path can be longer
    socket_dir = Path(tempfile.mkdtemp(prefix="fbz-"))
    saved = os.environ.get("DBUS_SYSTEM_BUS_ADDRESS")
    fake: FakeBluez | None = None
    daemon: subprocess.Popen[bytes] | None = None
    try:
        daemon, address = _start_daemon(workdir, socket_dir)
        fake = FakeBluez(workdir, address)
        os.environ["DBUS_SYSTEM_BUS_ADDRESS"] = address
        if bluez:
            fake.start_bluez()
            if adapter:
                fake.add_adapter()
        yield fake
    finally:
        if fake is not None:
            fake.close()
        if daemon is not None:
            _stop(daemon)
        if saved is None:
            os.environ.pop("DBUS_SYSTEM_BUS_ADDRESS", None)
        else:
            os.environ["DBUS_SYSTEM_BUS_ADDRESS"] = saved
        shutil.rmtree(socket_dir, ignore_errors=True)
