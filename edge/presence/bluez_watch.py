"""A small D-Bus connection of our own that watches BlueZ for the scanner.

bleak's scanner falls silent, without an error, when BlueZ restarts, the adapter
goes away or is powered off, discovery is stopped behind its back or a D-Bus
connection dies. This connection sees each of those at once. `signal_meaning`
(pure) says what a BlueZ signal means for a scanner; `BluezWatch` keeps the
connection, and a watch on other connections, and hands signals and lost
connections to its owner. Device object paths contain MAC addresses: nothing
here logs them.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from dbus_fast import BusType, Message, MessageType, Variant
from dbus_fast.aio import MessageBus
from dbus_fast.errors import DBusError

from edge.presence.bleak_internals import dbus_authenticator

BLUEZ = "org.bluez"
ADAPTER_IFACE = "org.bluez.Adapter1"
PROPS_IFACE = "org.freedesktop.DBus.Properties"


async def call(bus: MessageBus, message: Message, timeout: float) -> Message:
    """`message` on `bus` under `timeout`; an error reply is raised as DBusError."""
    async with asyncio.timeout(timeout):
        reply = await bus.call(message)
    if reply.message_type is MessageType.ERROR:
        text = str(reply.body[0]) if reply.body else ""
        raise DBusError(reply.error_name or "org.freedesktop.DBus.Error.Failed", text, reply)
    return reply


def match_rules(adapter_path: str | None) -> list[str]:
    """AddMatch rules for the BlueZ signals that matter; narrowed to a configured adapter."""
    path = f",path='{adapter_path}'" if adapter_path else ""
    arg0path = f",arg0path='{adapter_path}'" if adapter_path else ""
    manager = f"type='signal',sender='{BLUEZ}',interface='org.freedesktop.DBus.ObjectManager'"
    return [
        "type='signal',sender='org.freedesktop.DBus',interface='org.freedesktop.DBus',"
        f"member='NameOwnerChanged',arg0='{BLUEZ}'",
        f"{manager},member='InterfacesAdded'{arg0path}",
        f"{manager},member='InterfacesRemoved'{arg0path}",
        f"type='signal',sender='{BLUEZ}',interface='{PROPS_IFACE}',"
        f"member='PropertiesChanged',arg0='{ADAPTER_IFACE}'{path}",
    ]


@dataclass(frozen=True, slots=True)
class SignalMeaning:
    """What one BlueZ signal means for the scanner."""

    wake: bool = False  # a failed start may work now: retry without waiting out the backoff
    trouble: str | None = None  # a running scanner must be restarted, for this reason
    discovering: bool | None = None  # the adapter's new Discovering value, if it changed


def signal_value(changed: Any, name: str) -> Any:
    """The plain value of property `name` in a PropertiesChanged body (None if absent)."""
    value = changed.get(name) if isinstance(changed, dict) else None
    return value.value if isinstance(value, Variant) else value


def signal_meaning(
    member: str | None, path: str | None, body: list[Any], adapter_path: str | None
) -> SignalMeaning:
    """Interpret a signal; `adapter_path` None means any adapter is ours.

    Raises (IndexError, TypeError ...) on a body not shaped as BlueZ sends it.
    """

    def ours(where: object) -> bool:
        return adapter_path is None or where == adapter_path

    if member == "NameOwnerChanged" and body and body[0] == BLUEZ:
        if body[2]:
            return SignalMeaning(wake=True, trouble="BlueZ restarted")
        return SignalMeaning(trouble="BlueZ left the bus")
    if member == "InterfacesAdded" and ADAPTER_IFACE in body[1]:
        return SignalMeaning(wake=True)
    if member == "InterfacesRemoved" and ADAPTER_IFACE in body[1] and ours(body[0]):
        return SignalMeaning(trouble="adapter removed")
    if member == "PropertiesChanged" and body[0] == ADAPTER_IFACE and ours(path):
        powered = signal_value(body[1], "Powered")
        discovering = signal_value(body[1], "Discovering")
        return SignalMeaning(
            wake=powered is True,
            trouble="adapter powered off" if powered is False else None,
            discovering=discovering if isinstance(discovering, bool) else None,
        )
    return SignalMeaning()


class BluezWatch:
    """Our connection to the system bus, subscribed to BlueZ's signals, and lost-bus watches.

    `on_signal` gets every signal arriving on our connection (on the event
    loop); `on_lost` gets "<what> lost" when a watched connection closes,
    ours included.
    """

    def __init__(
        self,
        *,
        rules: list[str],
        call_timeout: float,
        on_signal: Callable[[Message], None],
        on_lost: Callable[[str], None],
    ) -> None:
        self._rules = rules
        self._call_timeout = call_timeout
        self._on_signal = on_signal
        self._on_lost = on_lost
        self._bus: MessageBus | None = None
        self._watchers: dict[int, asyncio.Task[None]] = {}  # id(bus) -> disconnect watcher

    async def connection(self) -> MessageBus:
        """Our connection, watching BlueZ; (re)connected when needed."""
        bus = self._bus
        if bus is not None and bus.connected:
            return bus
        self._bus = None
        bus = MessageBus(bus_type=BusType.SYSTEM, auth=dbus_authenticator())
        try:
            async with asyncio.timeout(self._call_timeout):
                await bus.connect()
            for rule in self._rules:
                await call(
                    bus,
                    Message(
                        destination="org.freedesktop.DBus",
                        path="/org/freedesktop/DBus",
                        interface="org.freedesktop.DBus",
                        member="AddMatch",
                        signature="s",
                        body=[rule],
                    ),
                    self._call_timeout,
                )
        except BaseException:
            bus.disconnect()  # releases the socket even if connect() failed
            raise
        bus.add_message_handler(self._on_message)
        self._bus = bus
        self.watch(bus, "D-Bus connection")
        return bus

    def watch(self, bus: MessageBus, what: str) -> None:
        """Report "<what> lost" when `bus` disconnects (once per connection)."""
        if id(bus) not in self._watchers:
            self._watchers[id(bus)] = asyncio.ensure_future(self._lost(bus, what))

    async def close(self) -> None:
        """Stop watching and close our connection."""
        tasks = list(self._watchers.values())
        self._watchers.clear()
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        if self._bus is not None:
            self._bus.disconnect()
            self._bus = None

    async def _lost(self, bus: MessageBus, what: str) -> None:
        with contextlib.suppress(Exception):
            await bus.wait_for_disconnect()  # type: ignore[no-untyped-call]
        self._watchers.pop(id(bus), None)
        if bus is self._bus:
            self._bus = None
        self._on_lost(f"{what} lost")

    def _on_message(self, message: Message) -> None:
        """dbus-fast calls this on the loop for every message on our connection."""
        if message.message_type is MessageType.SIGNAL:
            self._on_signal(message)
