"""The pairing service follows the LAN address: a device whose address comes late
(DHCP after boot) or changes is found and can be paired without a restart.

The interface list is the one thing chosen by the test (a test cannot renumber a
real interface); the pairing server, zeroconf on 127.0.0.1 and the browse are real.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from pathlib import Path

import pytest

from edge.config import from_mapping
from edge.content.slides import Slide
from edge.ops import pairing as ops
from edge.provision.device import Provisioning, prepare
from edge.sim.broker import answers

# Devices announce _omo-edge._tcp on 127.0.0.1: these browses must not see another test's.
pytestmark = pytest.mark.xdist_group("omo-edge-mdns")


def test_pairing_starts_when_an_address_arrives_and_stops_when_it_goes(tmp_path: Path) -> None:
    base = from_mapping(
        {
            "storage": {"path": str(tmp_path / "state" / "outbox.sqlite3")},
            "provision": {"interfaces": ["lan0"], "pair_port": 0},
        }
    )
    lease: list[str] = []  # what "lan0" has right now
    shown: list[Slide | None] = []

    async def online(_config: object) -> None:
        raise AssertionError("nobody paired this device")

    async def scenario() -> None:
        def find(_interfaces: Sequence[str]) -> list[str]:
            return list(lease)

        prov = Provisioning(
            base, prepare(base), show=shown.append, online=online, poll_s=0.2, find_addresses=find
        )
        await prov.start()
        prov.enter_pairing()
        device_id = prov.identity.device_id
        try:
            await asyncio.sleep(0.5)
            assert not shown, "a pairing code shown with no address to pair on"
            assert prov.service.hosts == []

            lease.append("127.0.0.1")  # the DHCP lease arrives
            for _ in range(50):
                if shown and prov.service.hosts:
                    break
                await asyncio.sleep(0.1)
            slide = shown[-1]
            assert slide is not None and f"port={prov.service.port}" in (slide.qr_url or "")
            assert answers(prov.service.port, timeout_s=0.5)
            found = await asyncio.to_thread(ops.browse, "127.0.0.1", 5.0, device_id)
            mine = [d for d in found if d.id == device_id]
            assert mine and (mine[0].address, mine[0].pair_port) == (
                "127.0.0.1",
                prov.service.port,
            )

            port = prov.service.port
            lease.clear()  # the cable is pulled
            for _ in range(50):
                if not answers(port, timeout_s=0.5):
                    break
                await asyncio.sleep(0.1)
            assert not answers(port, timeout_s=0.5)
        finally:
            await prov.aclose()

    asyncio.run(scenario())
