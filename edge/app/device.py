"""The composition root: one device, two threads, one bridge between them.

The renderer owns the calling (main) thread; one asyncio loop on a second
thread owns all I/O (radio, MQTT, SQLite through the outbox thread). The
bridge between them is built first, so neither thread ever waits for, or
looks for, the other. Everything else is built from the typed config in
edge/app/io.py and runs under its supervisor.
"""

from __future__ import annotations

import logging
import os
import threading
from collections.abc import Callable
from pathlib import Path

from edge.app.bridge import DisplayState, RenderBridge
from edge.app.io import IoSide, run_io
from edge.app.render import render
from edge.app.stats import Stats
from edge.config import Config
from edge.content.player import Impression, Showing
from edge.ids import short_visitor
from edge.link.tls import refuse_exposed_keys
from edge.lock import StateLock
from edge.notify import Notifier
from edge.panel.power import describe, detect
from edge.presence.advert import AdvertSource

log = logging.getLogger("edge.daemon")

IO_START_S = 30.0


class Device:
    """`run()` blocks the calling (main) thread until stopped; `stop.set()` from anywhere."""

    def __init__(
        self,
        config: Config,
        source: AdvertSource,
        *,
        source_done: Callable[[], bool] = lambda: False,
    ) -> None:
        self.config = config
        self.stop = threading.Event()
        self.stats = Stats()
        self.bridge = RenderBridge(
            on_impression=self._impression, on_shown=self._shown, on_display=self._display
        )
        self.io = IoSide(config, source, self.bridge, self.stats, source_done=source_done)

    def run(self, duration_s: float | None = None, stop_when_drained: bool = False) -> Stats:
        """Render here, I/O on another thread, until stopped (or `duration_s` passes)."""
        refuse_exposed_keys(self.config.mqtt.tls_key, self.config.state_dir)
        with StateLock(self.config.state_dir, "daemon"):
            self.io.log_ring.install()
            try:
                return self._run(duration_s, stop_when_drained)
            finally:
                self.io.log_ring.remove()

    def _run(self, duration_s: float | None, stop_when_drained: bool) -> Stats:
        p = self.config.panel
        power = detect(p.method, p.cec_ctl, p.cec_device, p.fb_device)  # may ask the TV (CEC)
        self.bridge.panel_method = power.method
        log.info("panel standby by %s", describe(power))
        ready = threading.Event()
        errors: list[BaseException] = []
        io_thread = threading.Thread(
            target=run_io,
            args=(self.io, ready, errors),
            kwargs={"stop_when_drained": stop_when_drained},
            name="edge-io",
        )
        io_thread.start()
        timer = None
        try:
            ready.wait(IO_START_S)
            if errors:
                raise errors[0]
            if duration_s is not None:
                timer = threading.Timer(duration_s, self.stop.set)
                timer.daemon = True
                timer.start()
            watcher = threading.Thread(target=self._watch_io, args=(io_thread,), daemon=True)
            watcher.start()
            under_systemd = bool(os.environ.get("NOTIFY_SOCKET"))
            self.stats.frames = render(
                self.config, self.bridge, self.stop, under_systemd=under_systemd, power=power
            )
        finally:
            Notifier().send("STOPPING=1")
            self.stop.set()
            if timer is not None:
                timer.cancel()
            self.io.request_stop()
            io_thread.join(60)
        if errors:
            raise errors[0]
        return self.stats

    def _watch_io(self, io_thread: threading.Thread) -> None:
        """The I/O thread ended on its own (a task gave up): the device stops too."""
        io_thread.join()
        self.stop.set()

    # -- render thread reports, via the bridge -----------------------------------------------
    def _impression(self, impression: Impression) -> None:
        self.io.record_impression(impression)  # on the I/O loop (the bridge hops threads)

    def _display(self, _state: DisplayState) -> None:
        self.io.state_changed()  # on the I/O loop (the bridge hops threads)

    def _shown(self, showing: Showing, shot: Path | None) -> None:
        p = showing.personal
        where = f" -> {shot}" if shot else ""
        if p is not None:
            log.info(
                "slide shown: %s (personal for %s, %d ms)%s",
                showing.slide.id,
                short_visitor(p.visitor),
                p.show_ms,
                where,
            )
        else:
            log.info("slide shown: %s (playlist)%s", showing.slide.id, where)
