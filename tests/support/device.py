"""The whole daemon in this process: real Mosquitto, real SQLite, SDL's dummy driver.

`running_device(config)` starts `edge.app.Device` on a thread (its render loop
runs there with the dummy video driver, its I/O loop on a thread of its own),
waits until it talks to the broker, and stops it on the way out. Tests reach
its parts through its public attributes (`device.io.router`, `device.io.outbox`,
...), never through private ones.

`captured_log()` collects what the daemon would print, line by line, through the
daemon's own terminal format and MAC redaction (edge/logs.py), for tests that read
its log the way they would read `omo-edge run`'s stdout.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import threading
from collections.abc import Coroutine, Iterator
from pathlib import Path
from typing import Any, TypeVar

from edge import config as config_mod
from edge import logs
from edge.app import Device
from edge.cli import make_source
from tests.support.wait import wait_for

T = TypeVar("T")


class LogLines(logging.Handler):
    """Every log record of this process, formatted as the daemon prints it."""

    def __init__(self) -> None:
        super().__init__()
        self.setFormatter(logs.TerminalFormat())
        self.addFilter(logs.Redact())
        self.lines: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        line = self.format(record)
        with self.lock:
            self.lines.append(line)

    @property
    def text(self) -> str:
        with self.lock:
            return "\n".join(self.lines) + "\n"


@contextlib.contextmanager
def captured_log() -> Iterator[LogLines]:
    """Collect the log lines of everything that runs meanwhile (the root logger's level
    decides what is logged; `running_device` sets it from the config, as `omo-edge run`)."""
    handler = LogLines()
    root = logging.getLogger()
    root.addHandler(handler)
    try:
        yield handler
    finally:
        root.removeHandler(handler)


@contextlib.contextmanager
def _log_level(level: str) -> Iterator[None]:
    """The root logger at `level` (and the noisy libraries at warning) as `omo-edge run`
    sets them; the levels before are back afterwards (the `set_log_level` command changes
    the root level while the device runs)."""
    root = logging.getLogger()
    noisy = {name: logging.getLogger(name).level for name in logs.NOISY}
    before = root.level
    root.setLevel(level.upper())
    for name in noisy:
        logging.getLogger(name).setLevel(logging.WARNING)
    try:
        yield
    finally:
        root.setLevel(before)
        for name, old in noisy.items():
            logging.getLogger(name).setLevel(old)


@contextlib.contextmanager
def running_device(config: Path, *, online: bool = True) -> Iterator[Device]:
    """The device of `config`, running until the block ends: its screen is up (or known to
    be missing or off) before the block starts, and with `online`, it has connected to the
    broker (the state it publishes then can come before the screen is up)."""
    cfg = config_mod.load(config)
    with _log_level(cfg.log.level):
        source, _done = make_source(cfg)
        device = Device(cfg, source)
        errors: list[BaseException] = []

        def run() -> None:
            try:
                device.run()
            except BaseException as exc:
                errors.append(exc)

        thread = threading.Thread(target=run, name="test-device")
        thread.start()
        try:
            if online:
                connected = wait_for(
                    lambda: (
                        bool(errors)
                        or (
                            device.io.online is not None
                            and device.io.online.link.connected.is_set()
                        )
                    ),
                    30,
                )
                assert connected, "the device did not connect to the broker within 30 s"
            screen = wait_for(lambda: bool(errors) or device.bridge.display != "starting", 30)
            assert screen, "the device's screen did not come up within 30 s"
            if errors:
                raise errors[0]
            yield device
        finally:
            device.stop.set()
            thread.join(60)
            assert not thread.is_alive(), "the device did not stop within 60 s"
        if errors:
            raise errors[0]


def on_loop(device: Device, work: Coroutine[Any, Any, T], timeout_s: float = 10) -> T:
    """Run `work` on the device's I/O loop (where its services live) and return its result."""
    loop = device.io.loop
    assert loop is not None, "the device's I/O loop is not running"
    return asyncio.run_coroutine_threadsafe(work, loop).result(timeout_s)


def pending(device: Device) -> int:
    """Events in the device's outbox not yet acknowledged by central."""
    return on_loop(device, device.io.outbox.pending())


def pending_events(device: Device) -> list[dict[str, Any]]:
    """The device's unacknowledged events, oldest first (what `omo-edge outbox export`
    prints), read on its outbox thread while it runs."""
    bodies = on_loop(device, device.io.outbox.outbox.run(lambda box: list(box.events())))
    return [json.loads(body) for body in bodies]
