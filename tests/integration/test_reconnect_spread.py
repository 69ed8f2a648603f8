"""A broker restart under many devices: their reconnects are spread over the backoff window
(full jitter), not bunched at the same instants, and bounded by the cap; `[mqtt] hosts`
fails over to a node that answers."""

from __future__ import annotations

import asyncio
import statistics
import time

from edge.link.session import BrokerSettings, MqttLink
from edge.link.topics import Topics
from edge.sim.broker import Mosquitto
from tests.support.wait import wait_for

DEVICES = 30
BASE_S, CAP_S = 0.5, 4.0


def links(
    port: int, loop: asyncio.AbstractEventLoop, hosts: tuple[str, ...] = ()
) -> list[MqttLink]:
    broker = BrokerSettings(
        "127.0.0.1", port, hosts=hosts, reconnect_base_s=BASE_S, reconnect_cap_s=CAP_S
    )
    return [
        MqttLink(Topics("omo/v1", "store-1", f"screen-{i:02d}"), broker, loop, lambda: True)
        for i in range(DEVICES)
    ]


async def until(check: object, seconds: float) -> bool:
    return await asyncio.to_thread(wait_for, check, seconds)  # type: ignore[arg-type]


def test_after_a_broker_restart_reconnects_are_spread_and_bounded(broker: Mosquitto) -> None:
    async def scenario() -> list[float]:
        fleet = links(broker.port, asyncio.get_running_loop())
        for link in fleet:
            link.start()
        try:
            assert await until(lambda: all(k.connected.is_set() for k in fleet), 10)
            before = [k.connect_attempts for k in fleet]
            broker.stop()
            # Down until every device has failed twice: their windows are 2 s or wider now.
            assert await until(
                lambda: all(
                    k.connect_attempts >= b + 3 for k, b in zip(fleet, before, strict=True)
                ),
                15,
            )
            back = time.monotonic()
            broker.start()

            async def reconnected(link: MqttLink) -> float:
                await link.connected.wait()
                return time.monotonic() - back

            return await asyncio.wait_for(
                asyncio.gather(*(reconnected(k) for k in fleet)), CAP_S + 5
            )
        finally:
            await asyncio.gather(*(asyncio.to_thread(k.stop) for k in fleet))

    times = sorted(asyncio.run(scenario()))
    assert times[-1] <= CAP_S + 2.0, times  # bounded by the cap (plus a connect)
    # Spread: a fixed ladder would bring all 30 back within a few ms of each other.
    assert statistics.pstdev(times) > 0.3, times
    first = times[0]
    assert sum(1 for t in times if t - first < 0.2) < DEVICES / 3, times


def test_hosts_fail_over_to_the_node_that_answers(broker: Mosquitto) -> None:
    async def scenario() -> bool:
        # 127.0.0.2 is loopback too, but nothing listens there: a dead cluster node.
        fleet = links(broker.port, asyncio.get_running_loop(), hosts=("127.0.0.2", "127.0.0.1"))
        for link in fleet:
            link.start()
        try:
            return await until(lambda: all(k.connected.is_set() for k in fleet), 10)
        finally:
            await asyncio.gather(*(asyncio.to_thread(k.stop) for k in fleet))

    assert asyncio.run(scenario())
