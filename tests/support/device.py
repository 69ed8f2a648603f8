"""The whole daemon in this process: real Mosquitto, real SQLite, SDL's dummy driver.

`running_device(config)` starts `edge.app.Device` on a thread (its render loop
runs there with the dummy video driver, its I/O loop on a thread of its own),
waits until it talks to the broker, and stops it on the way out. Tests reach
its parts through its public attributes (`device.io.router`, `device.io.outbox`,
...), never through private ones.
"""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Iterator
from pathlib import Path

from edge import config as config_mod
from edge.app import Device
from edge.cli import make_source
from tests.support.wait import wait_for


@contextlib.contextmanager
def running_device(config: Path, *, online: bool = True) -> Iterator[Device]:
    cfg = config_mod.load(config)
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
                    or (device.io.online is not None and device.io.online.link.connected.is_set())
                ),
                30,
            )
            assert connected, "the device did not connect to the broker within 30 s"
        if errors:
            raise errors[0]
        yield device
    finally:
        device.stop.set()
        thread.join(60)
        assert not thread.is_alive(), "the device did not stop within 60 s"
    if errors:
        raise errors[0]
