"""A remote config overlay on a running device: central takes a beacon off the store's
allow-list and its visits stop on the replayed trace, without a restart."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from edge.sim.central import CentralSim
from tests.support.device import running_device
from tests.support.wait import wait_for
from tests.unit.config.test_remote_config import CONFIG_PUB, UUID_A, UUID_B, overlay

pytestmark = [pytest.mark.timeout(90)]


def test_an_overlay_that_drops_a_beacon_stops_its_visits_without_a_restart(
    central: CentralSim, device_config: Callable[..., Path]
) -> None:
    config = device_config(
        presence={"allow_ibeacon_uuids": [UUID_A, UUID_B], "replay_loop": True},
        config={"public_keys": {"config-1": CONFIG_PUB}},
    )

    def entered(uuid: str, after_ts: int = 0) -> list[dict[str, object]]:
        return [
            e
            for e in central.events_of("visit.enter")
            if uuid in str(e["visitor"]) and int(str(e["ts"])) > after_ts
        ]

    with running_device(config) as device:
        assert wait_for(lambda: bool(entered(UUID_A)), 30), "no visit from beacon A before"
        central.publish(
            "omo/v1/store-1/screen-1/config",
            overlay({"presence": {"allow_ibeacon_uuids": [UUID_B]}}, version=1),
            retain=True,
        )
        assert wait_for(lambda: bool(central.events_of("config.applied")), 20)
        applied = central.events_of("config.applied")[0]
        assert applied["keys"] == ["presence.allow_ibeacon_uuids"]
        applied_ts = int(str(applied["ts"]))
        presence = device.io.presence

        def refused() -> int:
            return int(presence.health().get("decode_not_allowed", 0))

        before = refused()
        # The trace goes on (it loops): beacon A's adverts are now refused by the decoder
        # (hundreds of them, a visit's worth many times over) and it makes no visit.
        assert wait_for(lambda: refused() > before + 500, 40)
        assert entered(UUID_A, applied_ts) == []
        state = central.states["omo/v1/store-1/screen-1"]
        assert state["config"]["device"]["digest"] == applied["digest"]
