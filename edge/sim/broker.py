"""Run a real Mosquitto on a free loopback port (demo, tests, benchmarks)."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import tempfile
import time
from pathlib import Path

from edge.errors import EdgeError


class BrokerError(EdgeError):
    """Mosquitto could not be started."""


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _wait_listening(proc: subprocess.Popen[bytes], port: int, deadline: float) -> bool:
    """Whether `proc` itself listens on 127.0.0.1:`port` before `deadline`. Not just anybody:
    a free port can be taken by another process between `free_port` and the broker's bind
    (parallel tests pick ports too), and then the broker exits while the other answers."""
    while time.monotonic() < deadline and proc.poll() is None:
        owned = _listens(proc.pid, port)
        if owned or (owned is None and answers(port)):
            return True
        time.sleep(0.02)
    return False


def _listens(pid: int, port: int) -> bool | None:
    """Whether process `pid` has a socket listening on 127.0.0.1:`port` (None: no /proc)."""
    try:
        table = Path("/proc/net/tcp").read_text().splitlines()[1:]
        fds = os.listdir(f"/proc/{pid}/fd")
    except OSError:
        return None
    local = f"0100007F:{port:04X}"
    inodes = {row.split()[9] for row in table if row.split()[1:4:2] == [local, "0A"]}
    for fd in fds:
        try:
            link = os.readlink(f"/proc/{pid}/fd/{fd}")
        except OSError:
            continue
        if link.startswith("socket:[") and link[8:-1] in inodes:
            return True
    return False


def answers(port: int, timeout_s: float = 0.2) -> bool:
    """Whether something takes a TCP connection on 127.0.0.1:`port`."""
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=timeout_s):
            return True
    except OSError:
        return False


class Mosquitto:
    """A private mosquitto on 127.0.0.1: start, stop, start again on the same port."""

    def __init__(
        self,
        port: int | None = None,
        workdir: Path | None = None,
        listener: list[str] | None = None,
        conf: str | None = None,
        other_ports: tuple[int, ...] = (),
    ) -> None:
        """`listener`: settings for the listener instead of anonymous plain MQTT (e.g. TLS);
        `conf`: a whole mosquitto.conf instead (it must listen on `port`, and on `other_ports`:
        `start` returns once every listener takes connections)."""
        self.binary = shutil.which("mosquitto") or (
            "/usr/sbin/mosquitto" if Path("/usr/sbin/mosquitto").exists() else None
        )
        if self.binary is None:
            raise BrokerError("mosquitto is not installed (apt-get install mosquitto)")
        self.port = port or free_port()
        self._any_port = port is None and conf is None  # another can be picked if it is taken
        self._started = False  # once it ran, clients know its port: a restart keeps it
        self._listener = listener
        self.other_ports = other_ports
        self._tmp = None if workdir else tempfile.TemporaryDirectory(prefix="omo-mosquitto-")
        self.dir = workdir or Path(self._tmp.name)  # type: ignore[union-attr]
        self.dir.mkdir(parents=True, exist_ok=True)
        self.config = self.dir / "mosquitto.conf"
        self.config.write_text(conf if conf is not None else self._conf())
        self.log_path = self.dir / "mosquitto.log"
        self._proc: subprocess.Popen[bytes] | None = None

    def _conf(self) -> str:
        lines = [
            f"listener {self.port} 127.0.0.1",
            *(self._listener if self._listener is not None else ["allow_anonymous true"]),
            "persistence false",
            "set_tcp_nodelay true",
            "max_queued_messages 10000",
            "log_type error",
            "log_type warning",
        ]
        if os.geteuid() == 0:
            lines.append("user root")  # else it drops to 'mosquitto' and cannot read our temp dir
        return "\n".join(lines) + "\n"

    @property
    def pid(self) -> int | None:
        """The broker's process id while it runs (tests send it SIGHUP, as `systemctl
        reload mosquitto` does)."""
        return self._proc.pid if self.running and self._proc is not None else None

    @property
    def running(self) -> bool:
        return self._proc is not None and self._proc.poll() is None

    def start(self, timeout_s: float = 10.0) -> None:
        if self.running:
            return
        for tries_left in (2, 1, 0):
            problem = self._start_once(timeout_s)
            if problem is None:
                self._started = True
                return
            repick = self._any_port and not self._started and "Address already in use" in problem
            if not (tries_left and repick):
                raise BrokerError(problem)
            self._new_ports()  # taken meanwhile by another process: pick again
            self.config.write_text(self._conf())

    def _new_ports(self) -> None:
        """Pick the port(s) again (a subclass with more listeners picks them all)."""
        self.port = free_port()

    def _start_once(self, timeout_s: float) -> str | None:
        """Start the process; None once it listens on every port, else what went wrong."""
        with self.log_path.open("ab") as log:
            proc = self._proc = subprocess.Popen(
                [self.binary or "mosquitto", "-c", str(self.config)],
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
            )
        deadline = time.monotonic() + timeout_s
        for port in (self.port, *self.other_ports):
            if not _wait_listening(proc, port, deadline):
                self.stop()
                tail = self.log_path.read_text(errors="replace")[-800:]
                return f"mosquitto did not listen on 127.0.0.1:{port}: {tail}"
        return None

    def stop(self) -> None:
        proc, self._proc = self._proc, None
        if proc is None:
            return
        proc.terminate()
        try:
            proc.wait(5)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(5)

    def __enter__(self) -> Mosquitto:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()
        if self._tmp is not None:
            self._tmp.cleanup()


def tls_listener(
    ca: Path,
    cert: Path,
    key: Path,
    *,
    require_certificate: bool = True,
    acl_file: Path | None = None,
) -> list[str]:
    """Listener settings for mutual TLS: the client certificate's CN becomes the user name."""
    lines = [
        f"cafile {ca}",
        f"certfile {cert}",
        f"keyfile {key}",
        "tls_version tlsv1.2",
        f"require_certificate {'true' if require_certificate else 'false'}",
        "use_identity_as_username true" if require_certificate else "allow_anonymous true",
    ]
    if acl_file is not None:
        lines.append(f"acl_file {acl_file}")
    return lines
