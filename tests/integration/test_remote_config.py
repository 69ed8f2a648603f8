"""A remote config overlay on a running device: `omo-ops config push` takes a beacon off
the allow-list and its visits stop on the replayed trace, without a restart; a stale
overlay pushed afterwards is refused and changes nothing."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from edge.ops.cli import main as omo_ops
from edge.ops.signing_key import read_key
from edge.sim.broker import Mosquitto
from edge.sim.central import CentralSim
from tests.support.device import running_device
from tests.support.overlays import UUID_A, UUID_B
from tests.support.wait import wait_for

pytestmark = [pytest.mark.timeout(90)]


def test_an_overlay_that_drops_a_beacon_stops_its_visits_without_a_restart(
    tmp_path: Path, broker: Mosquitto, central: CentralSim, device_config: Callable[..., Path]
) -> None:
    signing_key = tmp_path / "config-1.key"
    assert omo_ops(["keygen", "--kid", "config-1", "--out", str(signing_key)]) == 0
    config = device_config(
        presence={"allow_ibeacon_uuids": [UUID_A, UUID_B], "replay_loop": True},
        config={"public_keys": {"config-1": read_key(signing_key).public_b64}},
    )
    settings = tmp_path / "store-1.toml"
    settings.write_text(f'[presence]\nallow_ibeacon_uuids = ["{UUID_B}"]\n')

    def entered(uuid: str, after_ts: int = 0) -> list[dict[str, object]]:
        return [
            e
            for e in central.events_of("visit.enter")
            if uuid in str(e["visitor"]) and int(str(e["ts"])) > after_ts
        ]

    def push(*more: str) -> int:
        return omo_ops(
            [
                "config",
                "push",
                str(settings),
                "--store",
                "store-1",
                "--device",
                "screen-1",
                "--signing-key",
                str(signing_key),
                "--kid",
                "config-1",
                "--broker",
                f"mqtt://127.0.0.1:{broker.port}",
                *more,
            ]
        )

    with running_device(config) as device:
        assert wait_for(lambda: bool(entered(UUID_A)), 30), "no visit from beacon A before"
        assert push() == 0
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
        # An overlay older than the one in force (a replay, or a late push) is refused
        # through the same path, and the allow-list stays as it was.
        settings.write_text(f'[presence]\nallow_ibeacon_uuids = ["{UUID_A}"]\n')
        assert push("--version", "1") == 0
        assert wait_for(lambda: bool(central.events_of("config.rejected")), 20)
        rejected = central.events_of("config.rejected")[0]
        assert (rejected["reason"], rejected["version"]) == ("stale_version", 1)
        assert device.io.config.allow_list.ibeacon_uuids == {UUID_B.lower()}
        assert (
            central.states["omo/v1/store-1/screen-1"]["config"]["device"]["digest"]
            == (applied["digest"])
        )
