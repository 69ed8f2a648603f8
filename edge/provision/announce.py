"""mDNS: the device says who it is on the store LAN (`_omo-edge._tcp`), and finds brokers.

TXT records: `id`, `model`, `version`, `provisioned` (0/1), `store` (once known),
`pair_port`. Only the configured interfaces (IPv4 addresses or interface names)
are used; their addresses are polled and the service re-announced when they change
(DHCP renewals, a cable moved), and updated when the provisioned state changes.
"""

from __future__ import annotations

import asyncio
import ipaddress
import logging
import platform
import socket
from collections.abc import Awaitable, Callable, Sequence
from pathlib import Path

import ifaddr
from zeroconf import Error as ZeroconfError
from zeroconf import IPVersion, ServiceInfo
from zeroconf.asyncio import AsyncZeroconf

from edge import __version__

log = logging.getLogger(__name__)

SERVICE_TYPE = "_omo-edge._tcp.local."
MQTT_SERVICE_TYPE = "_mqtt._tcp.local."


def model() -> str:
    """The board's model (a Pi says "Raspberry Pi 4 Model B Rev 1.5"), else the platform."""
    try:
        text = Path("/proc/device-tree/model").read_bytes().rstrip(b"\0").decode(errors="replace")
        if text:
            return text[:100]
    except OSError:
        pass
    return f"{platform.system()} {platform.machine()}".strip()


def addresses(interfaces: Sequence[str]) -> list[str]:
    """IPv4 addresses of `interfaces` (each an IPv4 address or an interface name), sorted."""
    found: set[str] = set()
    names = [i for i in interfaces if not _is_ipv4(i)]
    found.update(i for i in interfaces if _is_ipv4(i))
    if names:
        for adapter in ifaddr.get_adapters():
            if adapter.nice_name in names or adapter.name in names:
                found.update(str(ip.ip) for ip in adapter.ips if isinstance(ip.ip, str))
    return sorted(found)


def _is_ipv4(text: str) -> bool:
    try:
        ipaddress.IPv4Address(text)
    except ValueError:
        return False
    return True


class Announcer:
    """Keeps `_omo-edge._tcp` announced on the configured interfaces.

    `on_addresses` runs first whenever the interfaces' addresses change (and at
    start): the pairing service moves to the new addresses and returns the port
    to announce. So a device whose DHCP lease arrives late, or changes, can still
    be found and paired without a restart.
    """

    def __init__(
        self,
        device_id: str,
        interfaces: Sequence[str],
        pair_port: int,
        *,
        poll_s: float = 3.0,
        on_addresses: Callable[[list[str]], Awaitable[int]] | None = None,
        find_addresses: Callable[[Sequence[str]], list[str]] = addresses,
    ) -> None:
        self.device_id = device_id
        self.interfaces = list(interfaces)
        self.pair_port = pair_port
        self.poll_s = poll_s
        self._on_addresses = on_addresses
        self._find = find_addresses
        self.provisioned = False
        self.store = ""
        self._zc: AsyncZeroconf | None = None
        self._info: ServiceInfo | None = None
        self._addresses: list[str] = []
        self._task: asyncio.Task[None] | None = None

    def properties(self) -> dict[str, str]:
        props = {
            "id": self.device_id,
            "model": model(),
            "version": __version__,
            "provisioned": "1" if self.provisioned else "0",
            "pair_port": str(self.pair_port),
        }
        if self.store:
            props["store"] = self.store
        return props

    async def start(self) -> None:
        await self._announce(self._find(self.interfaces))
        self._task = asyncio.create_task(self._watch(), name="announce")

    async def update(self, *, provisioned: bool, store: str) -> None:
        """Say the new state at once (e.g. provisioned=1 and the store after pairing)."""
        self.provisioned, self.store = provisioned, store
        if self._zc is not None and self._info is not None:
            info = self._service_info(self._addresses)
            await self._zc.async_update_service(info)
            self._info = info
            log.info("announced %s as provisioned=%d", self.device_id, int(provisioned))

    async def aclose(self) -> None:
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)
        await self._withdraw()

    def _service_info(self, addrs: list[str]) -> ServiceInfo:
        return ServiceInfo(
            SERVICE_TYPE,
            f"{self.device_id}.{SERVICE_TYPE}",
            addresses=[socket.inet_aton(a) for a in addrs],
            port=self.pair_port,
            properties=self.properties(),
            server=f"{self.device_id}.local.",
        )

    async def _announce(self, addrs: list[str]) -> None:
        await self._withdraw()
        self._addresses = addrs
        if self._on_addresses is not None:
            self.pair_port = await self._on_addresses(addrs)
        if not addrs:
            log.warning("no IPv4 address on %s yet: not announced", ", ".join(self.interfaces))
            return
        try:
            self._zc = AsyncZeroconf(interfaces=addrs, ip_version=IPVersion.V4Only)
            info = self._service_info(addrs)
            await (await self._zc.async_register_service(info))
            self._info = info
            log.info("announced %s on %s (%s)", self.device_id, ", ".join(addrs), SERVICE_TYPE)
        except (ZeroconfError, OSError) as exc:
            log.error("cannot announce on %s: %s", ", ".join(addrs), exc)

    async def _withdraw(self) -> None:
        zc, info = self._zc, self._info
        self._zc = self._info = None
        if zc is None:
            return
        try:
            if info is not None:
                await (await zc.async_unregister_service(info))
        except (ZeroconfError, OSError):
            pass
        finally:
            await zc.async_close()

    async def _watch(self) -> None:
        while True:
            await asyncio.sleep(self.poll_s)
            now = self._find(self.interfaces)
            if now != self._addresses:
                log.info("addresses changed to %s: announcing again", ", ".join(now) or "none")
                await self._announce(now)


async def find_broker(interfaces: Sequence[str], timeout_s: float = 10.0) -> tuple[str, str, int]:
    """The store broker announced as `_mqtt._tcp`: (server name, IPv4 address, port)."""
    from zeroconf.asyncio import AsyncServiceBrowser

    addrs = addresses(interfaces) if interfaces else None
    zc = AsyncZeroconf(interfaces=addrs or "all", ip_version=IPVersion.V4Only)
    found: asyncio.Queue[str] = asyncio.Queue()

    def on_change(zeroconf: object, service_type: str, name: str, state_change: object) -> None:
        found.put_nowait(name)

    browser = AsyncServiceBrowser(zc.zeroconf, MQTT_SERVICE_TYPE, handlers=[on_change])
    try:
        async with asyncio.timeout(timeout_s):
            while True:
                name = await found.get()
                info = await zc.async_get_service_info(MQTT_SERVICE_TYPE, name, 3000)
                if info is None or not info.parsed_addresses(IPVersion.V4Only):
                    continue
                server = (info.server or "").rstrip(".")
                return server, info.parsed_addresses(IPVersion.V4Only)[0], int(info.port or 0)
    finally:
        await browser.async_cancel()
        await zc.async_close()
