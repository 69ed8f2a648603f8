"""systemd's notify protocol: silent without systemd; alive only while frames come.
(The daemon talking to a stand-in NOTIFY_SOCKET is in tests/integration/test_systemd.py.)"""

from __future__ import annotations

from edge.notify import Notifier, render_alive


def test_notifier_is_silent_without_systemd() -> None:
    notifier = Notifier({})
    assert not notifier.enabled and notifier.watchdog_s is None
    notifier.send("READY=1")  # does nothing, raises nothing


def test_render_alive_only_while_frames_are_recent() -> None:
    assert render_alive(100.0, 95.0, 10.0)
    assert not render_alive(100.0, 89.0, 10.0)
