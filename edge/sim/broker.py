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


def _wait_listening(port: int, deadline: float) -> bool:
    while time.monotonic() < deadline:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.2):
                return True
        except OSError:
            time.sleep(0.02)
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
        self.other_ports = other_ports
        self._tmp = None if workdir else tempfile.TemporaryDirectory(prefix="omo-mosquitto-")
        self.dir = workdir or Path(self._tmp.name)  # type: ignore[union-attr]
        self.dir.mkdir(parents=True, exist_ok=True)
        self.config = self.dir / "mosquitto.conf"
        lines = [
            f"listener {self.port} 127.0.0.1",
            *(listener if listener is not None else ["allow_anonymous true"]),
            "persistence false",
            "set_tcp_nodelay true",
            "max_queued_messages 10000",
            "log_type error",
            "log_type warning",
        ]
        if os.geteuid() == 0:
            lines.append("user root")  # else it drops to 'mosquitto' and cannot read our temp dir
        self.config.write_text(conf if conf is not None else "\n".join(lines) + "\n")
        self.log_path = self.dir / "mosquitto.log"
        self._proc: subprocess.Popen[bytes] | None = None

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
        with self.log_path.open("ab") as log:
            self._proc = subprocess.Popen(
                [self.binary or "mosquitto", "-c", str(self.config)],
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
            )
        deadline = time.monotonic() + timeout_s
        for port in (self.port, *self.other_ports):
            if not _wait_listening(port, deadline):
                self.stop()
                tail = self.log_path.read_text(errors="replace")[-800:]
                raise BrokerError(f"mosquitto did not listen on 127.0.0.1:{port}: {tail}")

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
