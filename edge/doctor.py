"""`omo-edge doctor`: is this device ready to run, and if not, what should ops staff do?

Every check gives one or more `Finding`s: OK, WARN or FAIL, what was found and,
when something is wrong, what to do, in plain words. The verdicts are pure
functions of what was read (tests feed them directly); the readers around them
touch the file system, D-Bus, SDL and the broker, each with a short timeout.
"""

from __future__ import annotations

import asyncio
import contextlib
import ctypes
import datetime as dt
import ipaddress
import os
import re
import socket
import ssl
import stat
import sys
import threading
import time
import uuid
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from edge import config as config_mod
from edge.clock import clock_synced
from edge.config.sections import MqttConfig
from edge.errors import EdgeError
from edge.files import readable_by_others
from edge.health import DiskSpace, disk_space, existing_ancestor
from edge.provision import pki

Status = Literal["OK", "WARN", "FAIL"]

TIMEOUT_S = 5.0
DISK_FAIL_BYTES = 50 * 1024 * 1024
DISK_FAIL_PCT = 5.0
DISK_WARN_PCT = 20.0
CERT_WARN_DAYS = 30
BACKLOG_WARN_EVENTS = 10_000
BACKLOG_WARN_AGE_S = 3600
REAL_DRIVERS = ("kmsdrm", "x11", "wayland")

BLUEZ = "org.bluez"
ADAPTER_IFACE = "org.bluez.Adapter1"
MONITOR_IFACE = "org.bluez.AdvertisementMonitorManager1"


@dataclass(frozen=True, slots=True)
class Finding:
    status: Status
    check: str
    found: str
    todo: str = ""

    def line(self) -> str:
        text = f"{self.status:<4}  {self.check:<10} {self.found}"
        return f"{text}. What to do: {self.todo}" if self.todo else text


# -- config and state dir -------------------------------------------------------------
def check_config(path: Path | None) -> tuple[list[Finding], config_mod.Config | None]:
    try:
        cfg = config_mod.load(path)
    except EdgeError as exc:
        return [
            Finding(
                "FAIL",
                "config",
                str(exc),
                "correct the config file (config/edge.example.toml lists every key)",
            )
        ], None
    if path is None:  # not the service's config: say so before every later line depends on it
        found = [
            Finding(
                "WARN",
                "config",
                cfg.describe(),
                "give the service's config: --config /etc/omo-edge/edge.toml",
            )
        ]
    else:
        found = [Finding("OK", "config", f"{path} loads and is valid; state in {cfg.state_dir}")]
    found += [
        Finding("WARN", "config", w, "remove or correct it (a misspelt key is ignored)")
        for w in cfg.warnings
    ]
    return found, cfg


def private_key_files(cfg: config_mod.Config) -> list[Path]:
    """The configured TLS key and every PEM private key lying in the state dir."""
    keys = [Path(cfg.mqtt.tls_key)] if cfg.mqtt.tls_key else []
    state = cfg.state_dir
    if state.is_dir():
        for path in sorted(state.glob("*.pem")) + sorted(state.glob("*.key")):
            with contextlib.suppress(OSError):
                if b"PRIVATE KEY" in path.read_bytes()[:4096] and path not in keys:
                    keys.append(path)
    return keys


def check_state_dir(state_dir: Path, key_files: Sequence[Path]) -> list[Finding]:
    name = "state dir"
    if not state_dir.exists():
        parent = existing_ancestor(state_dir)
        if os.access(parent, os.W_OK | os.X_OK):
            return [
                Finding(
                    "WARN",
                    name,
                    f"{state_dir} does not exist yet",
                    f"start the daemon once (it creates it), or: install -d -m 700 {state_dir}",
                )
            ]
        return [
            Finding(
                "FAIL",
                name,
                f"{state_dir} does not exist and {parent} is not writable by this user",
                f"create it for the service user: install -d -m 700 -o omo-edge {state_dir}",
            )
        ]
    if not state_dir.is_dir():
        return [Finding("FAIL", name, f"{state_dir} is not a folder", "remove it or fix the path")]
    found: list[Finding] = []
    mode = stat.S_IMODE(state_dir.stat().st_mode)
    if not os.access(state_dir, os.W_OK | os.X_OK):
        found.append(
            Finding(
                "FAIL",
                name,
                f"{state_dir} is not writable by this user (uid {os.getuid()})",
                f"give it to the service user: chown -R omo-edge: {state_dir}",
            )
        )
    if mode & 0o022:
        found.append(
            Finding(
                "FAIL",
                name,
                f"{state_dir} can be written by other users (mode {mode:o})",
                f"chmod 700 {state_dir}",
            )
        )
    elif mode & 0o077:
        found.append(
            Finding(
                "WARN",
                name,
                f"{state_dir} can be read by other users (mode {mode:o}); it holds visitor "
                "events and keys",
                f"chmod 700 {state_dir}",
            )
        )
    for key in key_files:
        with contextlib.suppress(FileNotFoundError):  # a missing key is the TLS check's
            if readable_by_others(key):
                found.append(
                    Finding(
                        "FAIL",
                        name,
                        f"private key {key} can be read by other users",
                        f"chmod 600 {key}",
                    )
                )
    if not found:
        keys = f", {len(key_files)} private key file(s) private" if key_files else ""
        found.append(Finding("OK", name, f"{state_dir} writable and private (mode {mode:o}){keys}"))
    return found


# -- disk, clock, outbox ----------------------------------------------------------------
def _size(n: float) -> str:
    for unit in ("B", "KB", "MB", "GB"):
        if n < 1000 or unit == "GB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1000
    return f"{n:.1f} GB"


def disk_verdict(space: DiskSpace, where: Path) -> Finding:
    found = (
        f"{_size(space.free_bytes)} free of {_size(space.total_bytes)} "
        f"({space.free_pct:.0f}%) on the filesystem of {where}"
    )
    if space.free_bytes < DISK_FAIL_BYTES or space.free_pct < DISK_FAIL_PCT:
        return Finding(
            "FAIL",
            "disk",
            found,
            "free space now: new events wait in memory only and are lost at the next "
            "restart; remove old files or logs (journalctl --vacuum-size=100M) or use a "
            "larger card",
        )
    if space.free_pct < DISK_WARN_PCT:
        return Finding("WARN", "disk", found, "free some space before it runs out")
    return Finding("OK", "disk", found)


def clock_verdict(synced: bool) -> Finding:
    if synced:
        return Finding("OK", "clock", "synchronised (NTP)")
    return Finding(
        "WARN",
        "clock",
        "not synchronised: events are marked clock_synced=false and expiry dates cannot "
        "be judged exactly",
        "check `timedatectl status` and that the device can reach an NTP server (UDP 123)",
    )


def backlog_verdict(status: Mapping[str, Any], now_ms: int, max_events: int) -> Finding:
    """The outbox: events not yet acknowledged by central, and how old the oldest is."""
    waiting = int(status["pending"]) + int(status["inflight"])
    oldest = status["oldest_pending_ts"]
    age_s = max(0.0, (now_ms - int(oldest)) / 1000) if oldest is not None else 0.0
    dropped = sum(status["dropped"].values())
    found = f"{waiting} events waiting for central"
    if waiting:
        found += f", the oldest {_age(age_s)} old"
    if dropped:
        found += f"; {dropped} dropped by the storage budget so far"
    near_budget = max_events and waiting >= 0.8 * max_events
    if near_budget or waiting >= BACKLOG_WARN_EVENTS or age_s >= BACKLOG_WARN_AGE_S:
        todo = "events are not reaching central: check the broker line and that central "
        todo += "acknowledges them (`omo-edge outbox drain` pushes them by hand)"
        if near_budget:
            todo += "; near [storage] max_events, beyond it the oldest events are dropped"
        return Finding("WARN", "outbox", found, todo)
    return Finding("OK", "outbox", found)


def _age(seconds: float) -> str:
    if seconds < 120:
        return f"{seconds:.0f} s"
    if seconds < 7200:
        return f"{seconds / 60:.0f} min"
    if seconds < 172_800:
        return f"{seconds / 3600:.0f} h"
    return f"{seconds / 86400:.0f} days"


def check_outbox(cfg: config_mod.Config) -> Finding:
    from edge.outbox.store import Outbox

    path = Path(cfg.storage.path)
    if not path.exists():
        return Finding("OK", "outbox", f"no outbox at {path} yet (the daemon makes it)")
    try:
        with Outbox(path) as outbox:
            status = outbox.status()
    except Exception as exc:  # any failure to read it is the finding
        return Finding(
            "FAIL",
            "outbox",
            f"cannot read the outbox {path}: {exc}",
            "check the file's owner and permissions; `omo-edge outbox export` saves its events",
        )
    return backlog_verdict(status, int(time.time() * 1000), cfg.storage.max_events)


# -- TLS ---------------------------------------------------------------------------------
def _date(when: dt.datetime) -> str:
    return when.strftime("%Y-%m-%d %H:%M UTC")


def validity_verdict(what: str, cert_pem: bytes, now: dt.datetime) -> Finding | None:
    """A problem with `what`'s validity dates at `now`, or None."""
    cert = pki.load_cert(cert_pem)
    start, end = cert.not_valid_before_utc, cert.not_valid_after_utc
    renew = "get a new certificate: pair the device again (omo-ops provision pair)"
    if now >= end:
        return Finding("FAIL", "tls", f"the {what} expired on {_date(end)}", renew)
    if now < start:
        return Finding(
            "FAIL",
            "tls",
            f"the {what} is not valid before {_date(start)}",
            "the clock is wrong (see the clock line) or the certificate was made wrongly",
        )
    if end - now < dt.timedelta(days=CERT_WARN_DAYS):
        days = (end - now).days
        return Finding("WARN", "tls", f"the {what} expires on {_date(end)}, in {days} days", renew)
    return None


def tls_verdict(
    ca_pem: bytes, cert_pem: bytes | None, key_pem: bytes | None, device_id: str, now: dt.datetime
) -> list[Finding]:
    """CA, client certificate and key: parse, belong together, name this device, in date."""
    redo = "pair the device again, or put the right files in [mqtt] tls_ca/tls_cert/tls_key"
    try:
        pki.load_cert(ca_pem)
    except pki.PkiError as exc:
        return [Finding("FAIL", "tls", f"the CA file (tls_ca) is unusable: {exc}", redo)]
    found = [f for f in [validity_verdict("CA certificate", ca_pem, now)] if f]
    if (cert_pem is None) != (key_pem is None):
        missing = "tls_key" if key_pem is None else "tls_cert"
        problem = f"a client certificate needs its key: {missing} is empty"
        return [*found, Finding("FAIL", "tls", problem, redo)]
    if cert_pem is None or key_pem is None:
        return found or [Finding("OK", "tls", "CA readable; no client certificate configured")]
    try:
        key = pki.load_key(key_pem)
        pki.load_cert(cert_pem)
    except pki.PkiError as exc:
        return [*found, Finding("FAIL", "tls", str(exc), redo)]
    if not pki.matches_key(cert_pem, key):
        found.append(
            Finding("FAIL", "tls", "the private key does not belong to the certificate", redo)
        )
    if not pki.issued_by(cert_pem, ca_pem):
        found.append(
            Finding("FAIL", "tls", "the client certificate was not issued by the CA", redo)
        )
    try:
        cn = pki.common_name(pki.load_cert(cert_pem))
    except pki.PkiError as exc:
        cn = f"({exc})"
    if cn != device_id:
        found.append(
            Finding(
                "FAIL",
                "tls",
                f"the certificate is for {cn!r}, but this device is {device_id!r}",
                redo,
            )
        )
    found += [f for f in [validity_verdict("client certificate", cert_pem, now)] if f]
    if not found:
        end = pki.expires(cert_pem)
        found.append(
            Finding(
                "OK",
                "tls",
                f"CA, certificate and key belong together, CN {cn}, valid until {_date(end)}",
            )
        )
    return found


def _loopback(host: str) -> bool:
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return host == "localhost"


def check_tls(cfg: config_mod.Config) -> list[Finding]:
    m = cfg.mqtt
    if not cfg.provisioned:
        return [Finding("OK", "tls", "skipped: the device is not provisioned")]
    if not m.tls_ca:
        if _loopback(m.host):
            return [Finding("OK", "tls", "not used (the broker is on this machine)")]
        return [
            Finding(
                "WARN",
                "tls",
                f"no TLS to {m.host}: anyone on the network can read and forge messages",
                "provision the device (pairing sets up TLS) or set [mqtt] tls_ca",
            )
        ]
    pems: dict[str, bytes | None] = {}
    files = {"tls_ca": m.tls_ca, "tls_cert": m.tls_cert, "tls_key": m.tls_key}
    for key, path in files.items():
        if not path:
            pems[key] = None
            continue
        try:
            pems[key] = Path(path).read_bytes()
        except OSError as exc:
            return [
                Finding(
                    "FAIL",
                    "tls",
                    f"cannot read [mqtt] {key} {path}: {exc.strerror or exc}",
                    "correct the path, or let the service user read it",
                )
            ]
    ca = pems["tls_ca"]
    assert ca is not None
    return tls_verdict(
        ca, pems["tls_cert"], pems["tls_key"], cfg.device.device_id, dt.datetime.now(dt.UTC)
    )


# -- broker ------------------------------------------------------------------------------
def check_broker(cfg: config_mod.Config, timeout_s: float = TIMEOUT_S) -> Finding:
    """A TCP connect, then a real MQTT 5 login with the device's credentials.

    The login uses a client id of its own (device id + "-doctor-..."): the device's
    id would take over, and so disconnect, a running daemon's session.
    """
    m = cfg.mqtt
    if not cfg.provisioned:
        return Finding(
            "WARN",
            "broker",
            "the device is not provisioned (store id, device id or broker missing): it plays "
            "its own content and keeps its events",
            "pair it with `omo-ops provision pair` from the ops laptop",
        )
    host, port = m.host, m.port
    where = f"{host}:{port}"
    unreachable = (
        "check [mqtt] host and port, that the broker runs, and that the network "
        "(firewall, VLAN) lets this device reach it"
    )
    try:
        socket.create_connection((host, port), timeout_s).close()
    except socket.gaierror as exc:
        return Finding("FAIL", "broker", f"the name {host} does not resolve ({exc})", unreachable)
    except OSError as exc:
        reason = exc.strerror or type(exc).__name__
        if isinstance(exc, TimeoutError):
            reason = f"no answer within {timeout_s:g} s"
        return Finding("FAIL", "broker", f"cannot reach {where}: {reason}", unreachable)
    return _mqtt_login(m, cfg.device.device_id, where, timeout_s)


def _mqtt_login(m: MqttConfig, device_id: str, where: str, timeout_s: float) -> Finding:
    from edge.link.client import new_client
    from edge.link.tls import TlsFiles

    tls = bool(m.tls_ca)
    answer: list[Any] = []
    done = threading.Event()

    def on_connect(_c: Any, _u: Any, _f: Any, reason: Any, _p: Any) -> None:
        answer.append(reason)
        done.set()

    login = "check [mqtt] username/password or the client certificate, and the broker's ACL"
    try:
        client = new_client(
            f"{device_id}-doctor-{uuid.uuid4().hex[:6]}",
            tls=TlsFiles(m.tls_ca, m.tls_cert, m.tls_key) if tls else None,
            username=m.username,
            password=m.password,
        )
        client.connect_timeout = timeout_s
        client.on_connect = on_connect
        client.connect(where.rsplit(":", 1)[0], int(where.rsplit(":", 1)[1]), keepalive=10)
    except ssl.SSLCertVerificationError as exc:
        return Finding(
            "FAIL",
            "broker",
            f"{where} presents a certificate this device does not trust: {exc.verify_message}",
            "check that [mqtt] tls_ca is the CA that signed the broker's certificate and that "
            "the certificate names the host in [mqtt] host",
        )
    except (ssl.SSLError, OSError, ValueError) as exc:
        return Finding("FAIL", "broker", f"TLS or connection to {where} failed: {exc}", login)
    client.loop_start()
    try:
        done.wait(timeout_s)
    finally:
        with contextlib.suppress(Exception):
            client.disconnect()
        client.loop_stop()
    if not answer:
        return Finding(
            "FAIL",
            "broker",
            f"{where} accepts connections but gave no MQTT answer within {timeout_s:g} s",
            "check that the port is the broker's MQTT port (TLS or not, as configured)",
        )
    if answer[0].is_failure:
        return Finding("FAIL", "broker", f"{where} refused the login: {answer[0]}", login)
    return Finding(
        "OK", "broker", f"{where} accepts this device's MQTT 5 login ({'TLS' if tls else 'no TLS'})"
    )


# -- Bluetooth ---------------------------------------------------------------------------
class BluezUnavailable(Exception):
    """The system bus or BlueZ cannot be asked; the message says which."""

    def __init__(self, found: str, todo: str) -> None:
        super().__init__(found)
        self.found, self.todo = found, todo


def bluetooth_verdict(
    objects: Mapping[str, Mapping[str, Mapping[str, Any]]],
    adapter: str,
    passive: bool,
    experimental: bool,
) -> list[Finding]:
    """BlueZ's managed objects (plain values) -> is there a powered adapter we can scan with?"""
    adapters = {
        path.rsplit("/", 1)[-1]: ifaces
        for path, ifaces in objects.items()
        if ADAPTER_IFACE in ifaces
    }
    plug = (
        "check that the radio is there and not blocked: `rfkill list`, "
        "`dmesg | grep -i bluetooth` (on a Pi, no dtoverlay=disable-bt)"
    )
    if adapter and adapter not in adapters:
        others = ", ".join(sorted(adapters)) or "none"
        return [
            Finding(
                "FAIL",
                "bluetooth",
                f"no Bluetooth adapter {adapter} ([presence] adapter); BlueZ has: {others}",
                plug + "; or set [presence] adapter to one BlueZ has (empty: any)",
            )
        ]
    if not adapters:
        return [Finding("FAIL", "bluetooth", "BlueZ has no Bluetooth adapter", plug)]
    name = adapter or sorted(adapters)[0]
    ifaces = adapters[name]
    if not ifaces[ADAPTER_IFACE].get("Powered", False):
        return [
            Finding(
                "FAIL",
                "bluetooth",
                f"adapter {name} is switched off",
                "`bluetoothctl power on`; if it will not stay on, `rfkill unblock bluetooth`",
            )
        ]
    found = [Finding("OK", "bluetooth", f"adapter {name} present and powered")]
    if passive:
        if MONITOR_IFACE in ifaces or experimental:
            found.append(Finding("OK", "bluetooth", "passive scanning available (BlueZ monitors)"))
        else:
            found.append(
                Finding(
                    "FAIL",
                    "bluetooth",
                    '[presence] scanning_mode = "passive", but BlueZ offers no advertisement '
                    "monitors (bluetoothd runs without --experimental)",
                    "start bluetoothd with --experimental (`systemctl edit bluetooth`, or "
                    "Experimental = true in /etc/bluetooth/main.conf; BlueZ 5.56 or later), "
                    'or set scanning_mode = "active"',
                )
            )
    return found


def bluetoothd_experimental(proc: Path = Path("/proc")) -> bool:
    """True if a running bluetoothd was started with --experimental (or -E)."""
    for cmdline in proc.glob("[0-9]*/cmdline"):
        try:
            argv = cmdline.read_bytes().split(b"\0")
        except OSError:
            continue
        daemon = bool(argv) and Path(argv[0].decode(errors="replace")).name == "bluetoothd"
        if daemon and (b"--experimental" in argv or b"-E" in argv):
            return True
    return False


async def bluez_objects(timeout_s: float = TIMEOUT_S) -> dict[str, dict[str, dict[str, Any]]]:
    """BlueZ's GetManagedObjects on the system bus, variants unwrapped."""
    from dbus_fast import BusType, Message, MessageType
    from dbus_fast.aio import MessageBus

    try:
        async with asyncio.timeout(timeout_s):
            bus = await MessageBus(bus_type=BusType.SYSTEM).connect()
    except Exception as exc:  # no bus, refused, timed out: the same to ops
        why = "no bus socket" if isinstance(exc, FileNotFoundError) else str(exc) or repr(exc)
        raise BluezUnavailable(
            f"cannot reach the system D-Bus ({why})",
            "check that dbus runs: `systemctl status dbus`",
        ) from exc
    try:
        async with asyncio.timeout(timeout_s):
            reply = await bus.call(
                Message(
                    destination=BLUEZ,
                    path="/",
                    interface="org.freedesktop.DBus.ObjectManager",
                    member="GetManagedObjects",
                )
            )
    except TimeoutError as exc:
        raise BluezUnavailable(
            f"BlueZ did not answer within {timeout_s:g} s", "sudo systemctl restart bluetooth"
        ) from exc
    finally:
        bus.disconnect()
    if reply is None or reply.message_type is MessageType.ERROR:
        error = reply.error_name if reply is not None else "no reply"
        if error in (
            "org.freedesktop.DBus.Error.ServiceUnknown",
            "org.freedesktop.DBus.Error.NameHasNoOwner",
        ):
            raise BluezUnavailable(
                "BlueZ (bluetoothd) is not running", "sudo systemctl enable --now bluetooth"
            )
        raise BluezUnavailable(f"BlueZ answered {error}", "sudo systemctl restart bluetooth")
    return {
        str(path): {
            iface: {k: getattr(v, "value", v) for k, v in props.items()}
            for iface, props in ifaces.items()
        }
        for path, ifaces in reply.body[0].items()
    }


def check_bluetooth(cfg: config_mod.Config) -> list[Finding]:
    p = cfg.presence
    if p.source.startswith("replay:"):
        return [
            Finding(
                "OK",
                "bluetooth",
                f"skipped: [presence] source is a replay ({p.source.removeprefix('replay:')}), "
                "no radio used",
            )
        ]
    passive = p.scanning_mode == "passive"
    try:
        objects = asyncio.run(bluez_objects())
    except BluezUnavailable as exc:
        return [Finding("FAIL", "bluetooth", exc.found, exc.todo)]
    return bluetooth_verdict(objects, p.adapter, passive, passive and bluetoothd_experimental())


# -- display -----------------------------------------------------------------------------
def sdl_builtin_drivers() -> list[str]:
    """Video drivers compiled into the SDL this pygame uses (whether or not they start)."""
    import pygame  # noqa: F401 - loads the SDL library we ask

    try:
        maps = Path("/proc/self/maps").read_text()
    except OSError:
        return []
    libs = sorted(
        {line.split()[-1] for line in maps.splitlines() if re.search(r"/libSDL2-2", line)}
    )
    if not libs:
        return []
    try:
        sdl = ctypes.CDLL(libs[0])
        sdl.SDL_GetVideoDriver.restype = ctypes.c_char_p
        sdl.SDL_GetVideoDriver.argtypes = [ctypes.c_int]
        count = int(sdl.SDL_GetNumVideoDrivers())
        return [sdl.SDL_GetVideoDriver(i).decode() for i in range(count)]
    except (OSError, AttributeError):
        return []


def sdl_default_driver() -> str | None:
    """The driver SDL picks on its own (SDL_VIDEODRIVER unset), or None if none starts."""
    import pygame

    saved = os.environ.pop("SDL_VIDEODRIVER", None)
    try:
        pygame.display.init()
        return str(pygame.display.get_driver())
    except pygame.error:
        return None
    finally:
        pygame.display.quit()
        if saved is not None:
            os.environ["SDL_VIDEODRIVER"] = saved


def display_verdict(
    headless: bool,
    env_driver: str | None,
    builtin: Sequence[str],
    working: Sequence[str],
    default: str | None,
) -> Finding:
    """Which SDL video driver the daemon will use, and whether a screen can be driven."""
    lists = (
        f"built into this pygame's SDL: {', '.join(builtin) or 'unknown'}; "
        f"starting here: {', '.join(working) or 'none'}"
    )
    if env_driver:
        if env_driver in working:
            return Finding("OK", "display", f"uses {env_driver} (SDL_VIDEODRIVER); {lists}")
        return Finding(
            "FAIL",
            "display",
            f"SDL_VIDEODRIVER={env_driver} does not start; {lists}",
            "unset SDL_VIDEODRIVER or set it to a driver that starts",
        )
    if headless:
        return Finding("OK", "display", f"headless: uses dummy (no screen); {lists}")
    real = [d for d in working if d in REAL_DRIVERS]
    if real:
        chosen = default if default in real else real[0]
        return Finding("OK", "display", f"uses {chosen}; {lists}")
    no_screen = "for a device without a screen, set [display] headless = true"
    if "kmsdrm" not in builtin:
        return Finding(
            "FAIL",
            "display",
            f"no screen driver starts and this pygame's SDL has no kmsdrm (the pip wheel's "
            f"SDL often lacks it; without a desktop only kmsdrm can drive the panel); {lists}",
            "install Debian's pygame (`apt install python3-pygame`, which uses the system SDL "
            "with kmsdrm) and make the venv with --system-site-packages, or build pygame "
            f"against libsdl2-dev; {no_screen}",
        )
    return Finding(
        "FAIL",
        "display",
        f"kmsdrm is built in but does not start (and no desktop for x11/wayland); {lists}",
        "check that /dev/dri/card* exists (on a Pi: dtoverlay=vc4-kms-v3d), that the service "
        "user is in the video and render groups, and that no desktop holds the screen; "
        + no_screen,
    )


@contextlib.contextmanager
def _stderr_silenced() -> Iterator[None]:
    sys.stderr.flush()
    saved = os.dup(2)
    try:
        with open(os.devnull, "wb") as null:
            os.dup2(null.fileno(), 2)
        yield
    finally:
        os.dup2(saved, 2)
        os.close(saved)


def check_display(cfg: config_mod.Config) -> Finding:
    from edge.signage.screen import available_drivers

    env_driver = os.environ.get("SDL_VIDEODRIVER") or None
    try:
        with _stderr_silenced():  # SDL prints its own complaints while drivers are probed
            builtin = sdl_builtin_drivers()
            working = available_drivers()
            default = None if env_driver or cfg.display.headless else sdl_default_driver()
    except Exception as exc:  # pygame itself broken is the finding
        return Finding(
            "FAIL", "display", f"pygame cannot start: {exc}", "reinstall omo-edge's venv"
        )
    return display_verdict(cfg.display.headless, env_driver, builtin, working, default)


# -- all together --------------------------------------------------------------------------
def run_checks(config_path: Path | None) -> Iterator[Finding]:
    """Every check in order, as each finishes (so a slow one does not hide the others)."""
    found, cfg = check_config(config_path)
    yield from found
    if cfg is None:
        return
    yield from check_state_dir(cfg.state_dir, private_key_files(cfg))
    yield disk_verdict(disk_space(cfg.state_dir), cfg.state_dir)
    yield clock_verdict(clock_synced())
    yield check_outbox(cfg)
    yield from check_tls(cfg)
    yield check_broker(cfg)
    yield from check_bluetooth(cfg)
    yield check_display(cfg)
