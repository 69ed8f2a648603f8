"""systemd notification (sd_notify) over `NOTIFY_SOCKET`: READY, WATCHDOG, STATUS, STOPPING.

Written by hand: it is one datagram per message. Without `NOTIFY_SOCKET`
(not started by systemd) every call does nothing.
"""

from __future__ import annotations

import logging
import os
import socket

log = logging.getLogger(__name__)


class Notifier:
    def __init__(self, environ: dict[str, str] | None = None) -> None:
        env = os.environ if environ is None else environ
        address = env.get("NOTIFY_SOCKET", "")
        if address.startswith("@"):  # abstract namespace
            address = "\0" + address[1:]
        self._address = address or None
        usec = env.get("WATCHDOG_USEC", "")
        self.watchdog_s = int(usec) / 1_000_000 if usec.isdigit() and int(usec) > 0 else None

    @property
    def enabled(self) -> bool:
        return self._address is not None

    def send(self, *fields: str) -> None:
        if self._address is None:
            return
        with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as sock:
            try:
                sock.sendto("\n".join(fields).encode(), self._address)
            except OSError as exc:
                log.debug("sd_notify failed: %s", exc)


def render_alive(now: float, last_frame: float, stall_s: float) -> bool:
    """Whether the render loop confirmed a frame recently enough to tell the watchdog so."""
    return now - last_frame <= stall_s
