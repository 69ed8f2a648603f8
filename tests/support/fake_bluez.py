"""A fake BlueZ on a private D-Bus, for driving the real bleak scanner without a radio.

`fake_bluez(tmp_path)` starts a private `dbus-daemon` (permissive policy, unix
socket in a short temp dir) and python-dbusmock's `bluez5` template on it, points
`DBUS_SYSTEM_BUS_ADDRESS` at it while active, and kills both processes on exit.
Adverts are injected by changing a mock device's properties with the mock's
`UpdateProperties`, which emits the `PropertiesChanged` signal bleak listens to.

Each step can be held back (`bluez=False`, `adapter=False`) and done later with
`start_bluez()` / `add_adapter()`, to test a scanner started before BlueZ is up.

Failures to inject, each as BlueZ shows it on the bus:
- `fail_start_discovery()`: StartDiscovery answers an error (InProgress by
  default) a number of times, or until a StopDiscovery arrives (a stale
  discovery session);
- an adapter that is not powered answers StartDiscovery with NotReady, as BlueZ
  does; `set_powered()` switches it off or on from outside;
- `remove_adapter()` / `add_adapter()`: the adapter unplugged and back;
- `restart_bluez()`: bluetoothd killed and started again (empty: no adapters);
- `restart_bus()`: the dbus-daemon itself restarted on the same socket, so
  every client connection is lost;
- `go_deaf()`: a stuck controller; StartDiscovery still works, but the adapter
  hears nothing until it is powered off and on again.

An adapter "hears" an injected advert only while it exists, is powered and is
not deaf; otherwise `advertise()` drops it, as the air would.

Every adapter gets a few methods replaced with dbusmock's `AddMethod` (code run
in the mock process): StartDiscovery/StopDiscovery (failure injection),
Properties.Set (logged in `GetCalls`, powering off ends discovery and cures
deafness) and helpers on the `org.omoedge.FakeBluez` interface.

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
ADAPTER_IFACE = "org.bluez.Adapter1"
DEVICE_IFACE = "org.bluez.Device1"
PROPS_IFACE = "org.freedesktop.DBus.Properties"
OBJECT_MANAGER_IFACE = "org.freedesktop.DBus.ObjectManager"
FAKE_IFACE = "org.omoedge.FakeBluez"

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

# Code run inside the mock (dbusmock execs it with `self` = the adapter object,
# `args` = the call's arguments and dbusmock's module globals, `dbus` among them).
_EMIT_DISCOVERING = """
self.EmitSignal('org.freedesktop.DBus.Properties', 'PropertiesChanged', 'sa{sv}as',
    ['org.bluez.Adapter1', dbus.Dictionary({'Discovering': dbus.Boolean(on)}, signature='sv'),
     dbus.Array([], signature='s')])
"""

_START_DISCOVERY = (
    """
a = self.props['org.bluez.Adapter1']
f = getattr(self, 'omo_fail', None)
if not a['Powered']:
    raise dbus.exceptions.DBusException('Resource Not Ready', name='org.bluez.Error.NotReady')
if f is not None and (f[1] > 0 or f[2]):
    if f[1] > 0:
        f[1] -= 1
    raise dbus.exceptions.DBusException('simulated failure', name=f[0])
a['Discovering'] = True
on = True
"""
    + _EMIT_DISCOVERING
)

_STOP_DISCOVERY = (
    """
f = getattr(self, 'omo_fail', None)
if f is not None:
    f[2] = False
self.props['org.bluez.Adapter1']['Discovering'] = False
on = False
"""
    + _EMIT_DISCOVERING
)

_SET_PROPERTY = """
iface, prop, value = args
if iface not in self.props or prop not in self.props[iface]:
    raise dbus.exceptions.DBusException('no such property ' + prop,
                                        name='org.freedesktop.DBus.Error.InvalidArgs')
self.props[iface][prop] = value
changed = {prop: value}
if iface == 'org.bluez.Adapter1' and prop == 'Powered' and not value:
    self.omo_deaf = False
    if self.props[iface]['Discovering']:
        self.props[iface]['Discovering'] = False
        changed['Discovering'] = dbus.Boolean(False)
self.EmitSignal('org.freedesktop.DBus.Properties', 'PropertiesChanged', 'sa{sv}as',
    [iface, dbus.Dictionary(changed, signature='sv'), dbus.Array([], signature='s')])
"""

_FAKE_METHODS = [
    (
        "Hears",
        "",
        "b",
        "ret = bool(self.props['org.bluez.Adapter1']['Powered'])"
        " and not getattr(self, 'omo_deaf', False)",
    ),
    ("GoDeaf", "", "", "self.omo_deaf = True"),
    ("FailStartDiscovery", "sub", "", "self.omo_fail = [args[0], int(args[1]), bool(args[2])]"),
]


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


def _plain(value: Any) -> Any:
    """A dbus-python value as plain Python (bool, int, str), for assertions."""
    if isinstance(value, dbus.Boolean):
        return bool(value)
    if isinstance(value, int):
        return int(value)
    if isinstance(value, str):
        return str(value)
    return value


class FakeBluez:
    """Handle on a running fake BlueZ: the bus address and ways to add things to it."""

    def __init__(self, workdir: Path, socket_dir: Path) -> None:
        self._workdir = workdir
        self._socket_dir = socket_dir
        # no guid: the address stays valid when the daemon is restarted
        self.address = f"unix:path={socket_dir / 'bus'}"
        self._daemon: subprocess.Popen[bytes] | None = None
        self._bluez: subprocess.Popen[bytes] | None = None
        self._conn: Any = None
        self._logs: list[Any] = []
        self._starts = 0

    # -- lifecycle -------------------------------------------------------

    def _log(self, name: str) -> Any:
        log = (self._workdir / name).open("wb")
        self._logs.append(log)
        return log

    def start_daemon(self) -> None:
        """Start the private bus (on the same socket every time) and wait for its address."""
        daemon = shutil.which("dbus-daemon")
        if daemon is None:
            raise FakeBluezError("dbus-daemon not found on PATH")
        config = self._workdir / "bus.conf"
        config.write_text(_CONFIG.format(socket=self._socket_dir / "bus"))
        addr_file = self._workdir / "bus.address"
        self._starts += 1
        with addr_file.open("wb") as out:
            self._daemon = subprocess.Popen(
                [daemon, "--nofork", f"--config-file={config}", "--print-address"],
                stdin=subprocess.DEVNULL,
                stdout=out,
                stderr=self._log(f"dbus-daemon-{self._starts}.log"),
            )
        deadline = time.monotonic() + DAEMON_START_TIMEOUT
        while not addr_file.read_text().endswith("\n"):
            if self._daemon.poll() is not None or time.monotonic() > deadline:
                raise FakeBluezError(f"dbus-daemon did not start; see {self._workdir}")
            time.sleep(0.01)

    def _connect(self) -> Any:
        if self._conn is None:
            self._conn = dbus.bus.BusConnection(self.address)
        return self._conn

    def _disconnect(self) -> None:
        if self._conn is not None:
            with contextlib.suppress(Exception):
                self._conn.close()
            self._conn = None

    def start_bluez(self) -> None:
        """Start python-dbusmock's bluez5 template and wait until org.bluez is owned."""
        self._starts += 1
        log_name = f"dbusmock-{self._starts}.log"
        env = dict(os.environ, DBUS_SYSTEM_BUS_ADDRESS=self.address)
        proc = subprocess.Popen(
            [sys.executable, "-m", "dbusmock", "--system", "-t", "bluez5"],
            stdin=subprocess.DEVNULL,
            stdout=self._log(log_name),
            stderr=subprocess.STDOUT,
            env=env,
        )
        self._bluez = proc
        conn = self._connect()
        deadline = time.monotonic() + BLUEZ_START_TIMEOUT
        while not conn.name_has_owner(BLUEZ):
            if proc.poll() is not None:
                raise FakeBluezError(f"dbusmock exited; see {self._workdir / log_name}")
            if time.monotonic() > deadline:
                raise FakeBluezError(f"org.bluez not on the bus after {BLUEZ_START_TIMEOUT} s")
            time.sleep(0.02)

    def stop_bluez(self) -> None:
        """Kill bluetoothd (the mock) and wait until org.bluez has left the bus."""
        if self._bluez is not None:
            _stop(self._bluez)
            self._bluez = None
        conn = self._connect()
        deadline = time.monotonic() + STOP_TIMEOUT
        while conn.name_has_owner(BLUEZ):
            if time.monotonic() > deadline:
                raise FakeBluezError("org.bluez still on the bus after the mock exited")
            time.sleep(0.01)

    def restart_bluez(self) -> None:
        """bluetoothd restarted: a new mock with no adapters and no devices."""
        self.stop_bluez()
        self.start_bluez()

    def restart_bus(self) -> None:
        """The system bus crashed and restarted: every connection drops; BlueZ comes back empty."""
        self._disconnect()
        if self._daemon is not None:  # killed first: every client sees its connection drop
            self._daemon.kill()
            self._daemon.wait(timeout=STOP_TIMEOUT)
            self._daemon = None
        if self._bluez is not None:
            _stop(self._bluez)
            self._bluez = None
        self.start_daemon()
        self.start_bluez()

    def close(self) -> None:
        """Stop BlueZ and the bus, then release the connection and logs."""
        self._disconnect()
        for proc in (self._bluez, self._daemon):
            if proc is not None:
                _stop(proc)
        self._bluez = self._daemon = None
        for log in self._logs:
            log.close()
        self._logs.clear()

    # -- the mock's API ----------------------------------------------------

    def _obj(self, path: str) -> Any:
        return self._connect().get_object(BLUEZ, path, introspect=False)

    def add_adapter(self, name: str = "hci0", alias: str = "omo-edge-test") -> str:
        """Add a powered adapter with the central role; returns its object path."""
        path = str(
            self._obj("/").AddAdapter(
                name, alias, dbus_interface=BLUEZ_MOCK_IFACE, timeout=CALL_TIMEOUT
            )
        )
        adapter = self._obj(path)
        for method, in_sig, out_sig, code in [
            ("StartDiscovery", "", "", _START_DISCOVERY),
            ("StopDiscovery", "", "", _STOP_DISCOVERY),
        ]:
            adapter.AddMethod(
                ADAPTER_IFACE,
                method,
                in_sig,
                out_sig,
                code,
                dbus_interface=MOCK_IFACE,
                timeout=CALL_TIMEOUT,
            )
        adapter.AddMethod(PROPS_IFACE, "Set", "ssv", "", _SET_PROPERTY, dbus_interface=MOCK_IFACE)
        for method, in_sig, out_sig, code in _FAKE_METHODS:
            adapter.AddMethod(FAKE_IFACE, method, in_sig, out_sig, code, dbus_interface=MOCK_IFACE)
        return path

    def remove_adapter(self, name: str = "hci0") -> None:
        """Unplug the adapter (InterfacesRemoved); its devices stay, as the template does."""
        self._obj("/").RemoveAdapter(name, dbus_interface=BLUEZ_MOCK_IFACE, timeout=CALL_TIMEOUT)

    def set_powered(self, on: bool, adapter: str = "hci0") -> None:
        """Switch the adapter off or on from outside (as `bluetoothctl power off` would)."""
        self._obj(f"/org/bluez/{adapter}").Set(
            ADAPTER_IFACE,
            "Powered",
            dbus.Boolean(on),
            dbus_interface=PROPS_IFACE,
            timeout=CALL_TIMEOUT,
        )

    def fail_start_discovery(
        self,
        times: int = 1,
        *,
        error: str = "org.bluez.Error.InProgress",
        until_stop: bool = False,
        adapter: str = "hci0",
    ) -> None:
        """Make the next `times` StartDiscovery calls fail with `error`.

        `until_stop=True`: fail until a StopDiscovery arrives instead (as BlueZ
        does for a client whose earlier discovery session is still open).
        """
        self._obj(f"/org/bluez/{adapter}").FailStartDiscovery(
            error,
            dbus.UInt32(times),
            until_stop,
            dbus_interface=FAKE_IFACE,
            timeout=CALL_TIMEOUT,
        )

    def go_deaf(self, adapter: str = "hci0") -> None:
        """A stuck controller: nothing is heard until the adapter is powered off and on."""
        self._obj(f"/org/bluez/{adapter}").GoDeaf(dbus_interface=FAKE_IFACE, timeout=CALL_TIMEOUT)

    def add_device(self, mac: str, name: str, adapter: str = "hci0") -> str:
        """Add a device under `adapter` (which need not exist yet); returns its object path.

        Built with the mock's AddObject rather than the template's AddDevice,
        which creates ManufacturerData/ServiceData as arrays (bleak expects
        dicts: "'list' object has no attribute 'items'") and announces them so
        in InterfacesAdded. As with BlueZ, a device appearing while a scanner
        runs is reported to it (with the template's RSSI of -79 and no data).
        """
        adapter_path = f"/org/bluez/{adapter}"
        path = f"{adapter_path}/dev_{mac.replace(':', '_').upper()}"
        props = dbus.Dictionary(
            {
                "Address": dbus.String(mac),
                "AddressType": dbus.String("public"),
                "Name": dbus.String(name),
                "Alias": dbus.String(name),
                "Adapter": dbus.ObjectPath(adapter_path),
                "UUIDs": dbus.Array([], signature="s"),
                "Paired": dbus.Boolean(False),
                "Connected": dbus.Boolean(False),
                "Trusted": dbus.Boolean(False),
                "Blocked": dbus.Boolean(False),
                "LegacyPairing": dbus.Boolean(False),
                "RSSI": dbus.Int16(-79),
                "ManufacturerData": dbus.Dictionary({}, signature="qv"),
                "ServiceData": dbus.Dictionary({}, signature="sv"),
                "ServicesResolved": dbus.Boolean(False),
            },
            signature="sv",
        )
        root = self._obj("/")
        root.AddObject(
            path,
            DEVICE_IFACE,
            props,
            dbus.Array([], signature="(ssss)"),
            dbus_interface=MOCK_IFACE,
            timeout=CALL_TIMEOUT,
        )
        root.EmitSignal(
            OBJECT_MANAGER_IFACE,
            "InterfacesAdded",
            "oa{sa{sv}}",
            dbus.Array(
                [dbus.ObjectPath(path), dbus.Dictionary({DEVICE_IFACE: props}, signature="sa{sv}")],
                signature="v",
            ),
            dbus_interface=MOCK_IFACE,
            timeout=CALL_TIMEOUT,
        )
        return path

    def hears(self, device_path: str) -> bool:
        """Whether the device's adapter exists, is powered and is not deaf."""
        adapter = device_path.rsplit("/", 1)[0]
        try:
            return bool(self._obj(adapter).Hears(dbus_interface=FAKE_IFACE, timeout=CALL_TIMEOUT))
        except dbus.exceptions.DBusException:
            return False  # no such adapter (removed, or BlueZ restarted without it)

    def advertise(
        self,
        path: str,
        rssi: int,
        manufacturer_data: Mapping[int, bytes] | None = None,
        service_data: Mapping[str, bytes] | None = None,
    ) -> bool:
        """Inject one advert: set RSSI, ManufacturerData and ServiceData to exactly these.

        One `PropertiesChanged` signal carries all three, so bleak's detection
        callback fires once with the new values (even if none of them changed).
        Returns False (and sends nothing) when the device's adapter cannot hear.
        """
        if not self.hears(path):
            return False
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
        return True

    def calls(self, path: str) -> list[str]:
        """Names of the methods called on the mock object at `path`, oldest first."""
        return [name for name, _args in self.calls_with_args(path)]

    def calls_with_args(self, path: str) -> list[tuple[str, list[Any]]]:
        """(method name, arguments as plain Python) called on `path`, oldest first."""
        return [
            (str(name), [_plain(a) for a in args])
            for _t, name, args in self._obj(path).GetCalls(
                dbus_interface=MOCK_IFACE, timeout=CALL_TIMEOUT
            )
        ]

    def powered_sets(self, adapter: str = "hci0") -> list[bool]:
        """Every value Adapter1.Powered was set to over D-Bus, oldest first."""
        return [
            bool(args[2])
            for name, args in self.calls_with_args(f"/org/bluez/{adapter}")
            if name == "Set" and args[:2] == [ADAPTER_IFACE, "Powered"]
        ]

    def _update(self, path: str, props: Mapping[str, Any]) -> None:
        self._obj(path).UpdateProperties(
            DEVICE_IFACE,
            dbus.Dictionary(props, signature="sv"),
            dbus_interface=MOCK_IFACE,
            timeout=CALL_TIMEOUT,
        )


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
    fake = FakeBluez(workdir, socket_dir)
    try:
        fake.start_daemon()
        os.environ["DBUS_SYSTEM_BUS_ADDRESS"] = fake.address
        if bluez:
            fake.start_bluez()
            if adapter:
                fake.add_adapter()
        yield fake
    finally:
        fake.close()
        if saved is None:
            os.environ.pop("DBUS_SYSTEM_BUS_ADDRESS", None)
        else:
            os.environ["DBUS_SYSTEM_BUS_ADDRESS"] = saved
        shutil.rmtree(socket_dir, ignore_errors=True)
