"""Remote config overlays as the device judges them: signed by a config key (never a
content key), for this store and device, current, newer, and with values the config
file's own rules allow. Refused ones leave the settings as they were, with the reason."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from edge.config import remote
from edge.config.load import Config, from_mapping
from edge.config.service import RemoteConfigService
from edge.errors import ConfigError
from edge.link.session import Incoming
from edge.link.topics import Topics
from tests.support.overlays import (
    CONFIG_PUB,
    CONTENT_PUB,
    CONTENT_SEED,
    UUID_A,
    UUID_B,
    overlay,
)

TOPICS = Topics("omo/v1", "store-1", "screen-1")


def local_config() -> Config:
    return from_mapping(
        {
            "device": {"store_id": "store-1", "device_id": "screen-1"},
            "presence": {"allow_ibeacon_uuids": [UUID_A, UUID_B]},
            "content": {"public_keys": {"content-1": CONTENT_PUB}},
            "config": {"public_keys": {"config-1": CONFIG_PUB}},
        }
    )


class Device:
    """The service as the daemon holds it: what it applied, what it recorded."""

    def __init__(self, state_dir: Path) -> None:
        self.applied: list[Config] = []
        self.events: list[tuple[str, dict[str, Any]]] = []
        self.service = RemoteConfigService(
            state_dir, apply=self.applied.append, clock_synced=lambda: True
        )
        self.start = self.service.startup(local_config())
        self.service.set_record(lambda kind, fields: self.events.append((kind, fields)))
        self.routes = {r.topic: r for r in self.service.routes(TOPICS)}

    def receive(self, payload: bytes, topic: str = TOPICS.config) -> None:
        item = Incoming(topic, payload, 0, 1, None)
        asyncio.run(self.routes[topic].handler(item))

    def last(self) -> tuple[str, dict[str, Any]]:
        return self.events[-1]


def test_an_overlay_applies_live_and_survives_a_restart(tmp_path: Path) -> None:
    device = Device(tmp_path)
    device.receive(
        overlay({"presence": {"allow_ibeacon_uuids": [UUID_B]}, "log": {"level": "debug"}})
    )
    kind, fields = device.last()
    assert kind == "config.applied"
    assert fields["keys"] == ["presence.allow_ibeacon_uuids", "log.level"]
    assert device.applied[-1].presence.allow_ibeacon_uuids == (UUID_B,)
    assert device.applied[-1].log.level == "debug"
    again = Device(tmp_path)  # a reboot: the overlay is checked again and laid on
    assert again.start.presence.allow_ibeacon_uuids == (UUID_B,)
    assert again.service.live()["device"].digest == fields["digest"]


def test_the_devices_own_overlay_wins_over_the_stores(tmp_path: Path) -> None:
    device = Device(tmp_path)
    device.receive(overlay({"log": {"level": "warning"}}, device=None), topic=TOPICS.store_config)
    device.receive(overlay({"log": {"level": "error"}}))
    device.receive(
        overlay({"log": {"level": "debug"}}, device=None, version=2), topic=TOPICS.store_config
    )
    assert device.applied[-1].log.level == "error"


@pytest.mark.parametrize(
    ("payload", "reason", "key"),
    [
        (overlay({"health": {"interval_s": -5}}, version=9), "invalid_value", "health.interval_s"),
        (overlay({"log": {"level": "debug"}}, store="store-2"), "wrong_scope", None),
        (overlay({"log": {"level": "debug"}}, device="screen-2"), "wrong_scope", None),
        (overlay({"log": {"level": "debug"}}, expires_in_ms=-1000, version=9), "expired", None),
        (
            overlay({"log": {"level": "debug"}}, seed=CONTENT_SEED, kid="content-1"),
            "unknown_kid",
            None,
        ),
        (overlay({"log": {"level": "debug"}}, seed=CONTENT_SEED, version=9), "bad_signature", None),
        (overlay({"mqtt": {"host": "evil.example"}}, version=9), "not_remote", "mqtt.host"),
        (overlay({"mqtt": {"tls_ca": "/tmp/ca"}}, version=9), "not_remote", "mqtt.tls_ca"),
        (overlay({"device": {"device_id": "x"}}, version=9), "not_remote", "device.device_id"),
        (overlay({"presence": {"no_such": 1}}, version=9), "unknown_key", "presence.no_such"),
        (b"{not json", "malformed", None),
    ],
)
def test_a_bad_overlay_is_refused_with_the_reason_and_the_settings_stay(
    tmp_path: Path, payload: bytes, reason: str, key: str | None
) -> None:
    device = Device(tmp_path)
    device.receive(overlay({"presence": {"allow_ibeacon_uuids": [UUID_B]}}, version=5))
    applied = len(device.applied)
    device.receive(payload)
    kind, fields = device.last()
    assert (kind, fields["reason"], fields["key"]) == ("config.rejected", reason, key)
    if key is not None:
        assert fields["value"] is not None
    assert len(device.applied) == applied, "a refused overlay changed the settings"
    assert device.service.live()["device"].version == 5


def test_the_store_hours_may_be_remote_and_are_checked_like_the_file(tmp_path: Path) -> None:
    device = Device(tmp_path)
    hours = {"mon": "09:00-20:00", "sun": "closed"}
    device.receive(overlay({"panel": {"hours": hours}}, device=None), topic=TOPICS.store_config)
    assert dict(device.applied[-1].panel.hours) == hours
    device.receive(
        overlay({"panel": {"hours": {"mon": "25:00-26:00"}}}, device=None, version=2),
        topic=TOPICS.store_config,
    )
    assert device.last()[1]["reason"] == "invalid_value"
    assert device.last()[1]["key"] == "panel.hours"
    device.receive(overlay({"panel": {"method": "none"}}, version=3))
    assert device.last()[1]["reason"] == "not_remote"


def test_a_lower_or_equal_version_is_refused(tmp_path: Path) -> None:
    device = Device(tmp_path)
    device.receive(overlay({"log": {"level": "debug"}}, version=5))
    device.receive(overlay({"log": {"level": "error"}}, version=4))
    assert device.last()[1]["reason"] == "stale_version"
    assert device.applied[-1].log.level == "debug"
    restarted = Device(tmp_path)  # the highest version taken is remembered
    restarted.receive(overlay({"log": {"level": "error"}}, version=5))
    assert restarted.last()[1]["reason"] == "stale_version"


def test_a_content_key_may_not_be_a_config_key() -> None:
    with pytest.raises(ConfigError, match=r"config\.public_keys"):
        from_mapping(
            {
                "content": {"public_keys": {"c": CONTENT_PUB}},
                "config": {"public_keys": {"k": CONTENT_PUB}},
            }
        )


@settings(max_examples=40, deadline=None)
@given(
    st.dictionaries(
        st.sampled_from(["presence", "log", "health", "mqtt", "x"]),
        st.dictionaries(st.text(max_size=12), st.integers() | st.text(max_size=8), max_size=3),
        max_size=3,
    )
)
def test_any_settings_are_applied_or_refused_never_half_taken(settings_: dict[str, Any]) -> None:
    payload = overlay(settings_)
    local = local_config()
    try:
        checked = remote.verify(
            payload,
            scope="device",
            public_keys={"config-1": CONFIG_PUB},
            store_id="store-1",
            device_id="screen-1",
            now_ms=int(time.time() * 1000),
            highest=None,
        )
        result = remote.effective(local, checked)
    except remote.OverlayRejected as exc:
        assert exc.reason in {"unknown_key", "not_remote", "invalid_value", "malformed"}
        return
    for section, table in settings_.items():
        for name, value in table.items():
            got = getattr(getattr(result, section), name, None)
            if got is None:  # a tracker parameter lives in tracker_params
                got = getattr(result.tracker_params, name)
            assert got == (tuple(value) if isinstance(value, list) else value)


def test_an_overlay_that_expires_in_force_is_dropped_and_the_settings_come_back(
    tmp_path: Path,
) -> None:
    device = Device(tmp_path)
    device.receive(overlay({"log": {"level": "debug"}}, expires_in_ms=500))
    assert device.applied[-1].log.level == "debug"

    async def until_dropped() -> None:
        expiry = asyncio.create_task(device.service.tasks()[0].run())
        try:
            for _ in range(200):  # bounded: 10 s
                if device.last()[0] == "config.rejected":
                    return
                await asyncio.sleep(0.05)
        finally:
            expiry.cancel()

    asyncio.run(until_dropped())
    kind, fields = device.last()
    assert (kind, fields["reason"]) == ("config.rejected", "expired")
    assert device.applied[-1].log.level == local_config().log.level
    assert "device" not in device.service.live()
    assert Device(tmp_path).start.log.level == local_config().log.level  # and after a reboot
