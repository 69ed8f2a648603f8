"""bleak's internals that edge/presence/bleak_internals.py relies on are still there.

If one of these fails after a bleak upgrade, read the docstring of
edge/presence/bleak_internals.py (why each internal is needed) and adapt that
module, nothing else: it is the only code that touches bleak's internals.
"""

from __future__ import annotations

import asyncio
import importlib.metadata
import shutil
from pathlib import Path

import pytest
from dbus_fast.aio import MessageBus
from dbus_fast.auth import Authenticator

from edge.presence import bleak_internals
from tests.support.fake_bluez import fake_bluez

BLEAK = importlib.metadata.version("bleak")
ADVICE = (
    f"bleak {BLEAK} no longer has internals omo-edge needs: {{}}. "
    "See edge/presence/bleak_internals.py for why each is used, and adapt that module."
)


def test_the_internals_exist_in_the_installed_bleak() -> None:
    gone = bleak_internals.missing()
    assert not gone, ADVICE.format(", ".join(gone))


@pytest.mark.skipif(shutil.which("dbus-daemon") is None, reason="dbus-daemon is not installed")
@pytest.mark.timeout(60)
def test_the_internals_reach_bleaks_connection_and_adapter(tmp_path: Path) -> None:
    """Not only present: `_bus` is bleak's live connection, the default adapter is known."""
    with fake_bluez(tmp_path):

        async def main() -> tuple[MessageBus | None, str]:
            manager = await bleak_internals.bluez_manager()
            return bleak_internals.bleak_bus(manager), bleak_internals.default_adapter_path(manager)

        bus, adapter = asyncio.run(main())

    assert bus is not None, ADVICE.format("BlueZManager._bus is not a connected dbus-fast bus")
    assert adapter == "/org/bluez/hci0", ADVICE.format(
        f"BlueZManager.get_default_adapter() gave {adapter!r}"
    )
    auth = bleak_internals.dbus_authenticator()  # None unless BLEAK_DBUS_AUTH_UID is set
    assert auth is None or isinstance(auth, Authenticator)
