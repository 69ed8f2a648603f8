"""The one place omo-edge reaches into bleak's internals; checked against bleak 3.1.0.

bleak's public API (BleakScanner, bleak.args.bluez, bleak.exc) starts and stops
a scan, but gives no handle on the BlueZ state it keeps, and keeping a scanner
alive for months needs one. Everything below lives in bleak's BlueZ backend
(`bleak.backends.bluezdbus`), which bleak documents as internal:

- `manager.get_global_bluez_manager()`: bleak's per-event-loop BlueZ object
  manager, the one its scanner uses. Needed to reach the two below.
- `BlueZManager.get_default_adapter()`: which adapter bleak scans on when none
  is configured, so that the right one is power-cycled.
- `BlueZManager._bus` (private): bleak's own D-Bus connection, needed three
  ways: watched, since a dead connection leaves a running scanner silent
  until its next start; used for StopDiscovery, since BlueZ ties a discovery
  session to the D-Bus client that started it and only that connection can
  end a stale one; disconnected, to make bleak re-read BlueZ's objects when
  its cache has lost an adapter.
- `utils.get_dbus_authenticator()`: so that our own connection to the system
  bus authenticates as bleak's does (it honours BLEAK_DBUS_AUTH_UID).

When bleak changes any of these, tests/unit/presence/test_bleak_internals.py fails and names
what is missing; `missing()` gives the same list.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from bleak.backends.bluezdbus import manager as _manager
from bleak.backends.bluezdbus import utils as _utils
from dbus_fast.aio import MessageBus
from dbus_fast.auth import Authenticator

if TYPE_CHECKING:  # looked up by name at run time, so that `missing()` can say it is gone
    from bleak.backends.bluezdbus.manager import BlueZManager


async def bluez_manager() -> BlueZManager:
    """bleak's BlueZ manager for the running event loop, connected (bleak reconnects it)."""
    return await _manager.get_global_bluez_manager()


def default_adapter_path(manager: BlueZManager) -> str:
    """The D-Bus path of the adapter bleak uses when none is given, e.g. /org/bluez/hci0."""
    return manager.get_default_adapter()


def bleak_bus(manager: BlueZManager) -> MessageBus | None:
    """bleak's own D-Bus connection if it is connected, else None."""
    bus = getattr(manager, "_bus", None)
    return bus if isinstance(bus, MessageBus) and bus.connected else None


def dbus_authenticator() -> Authenticator | None:
    """The authenticator bleak uses for the system bus (None: dbus-fast's default)."""
    return _utils.get_dbus_authenticator()


def missing() -> list[str]:
    """The internals above that this bleak lacks (looked up, not assumed); [] when all there."""
    gone = [
        f"{module.__name__}.{name}"
        for module, name in (
            (_manager, "get_global_bluez_manager"),
            (_manager, "BlueZManager"),
            (_utils, "get_dbus_authenticator"),
        )
        if not callable(getattr(module, name, None))
    ]
    manager_class = getattr(_manager, "BlueZManager", None)
    if manager_class is None:
        return gone
    if not callable(getattr(manager_class, "get_default_adapter", None)):
        gone.append("BlueZManager.get_default_adapter")
    try:
        has_bus = hasattr(manager_class(), "_bus")
    except Exception:  # a constructor that now wants arguments: cannot tell, so say so
        has_bus = False
    if not has_bus:
        gone.append("BlueZManager()._bus")
    return gone
