"""`[mqtt] hosts` (a clustered broker's nodes) and the reconnect backoff keys."""

from __future__ import annotations

from typing import Any

import pytest

from edge.config.load import from_mapping
from edge.errors import ConfigError
from edge.link.session import BrokerSettings

DEVICE = {"store_id": "store-1", "device_id": "screen-1"}


def mqtt(**keys: Any) -> dict[str, Any]:
    return {"device": DEVICE, "mqtt": keys}


def test_a_device_with_only_hosts_is_provisioned_and_fails_over_between_them() -> None:
    cfg = from_mapping(mqtt(hosts=["broker-a.example", "broker-b.example"], port=8883))
    assert cfg.provisioned
    broker = BrokerSettings.from_config(cfg.mqtt)
    assert broker.nodes == ("broker-a.example", "broker-b.example")
    assert (broker.reconnect_base_s, broker.reconnect_cap_s) == (1.0, 30.0)


def test_one_host_stays_one_node() -> None:
    broker = BrokerSettings.from_config(from_mapping(mqtt(host="broker")).mqtt)
    assert broker.nodes == ("broker",)


@pytest.mark.parametrize(
    ("keys", "named"),
    [
        ({"host": "elsewhere", "hosts": ["a", "b"]}, "mqtt.host"),
        ({"host": "auto", "hosts": ["a"], "tls_ca": "/x"}, "mqtt.host"),
        ({"hosts": ["a", " "]}, "mqtt.hosts"),
        ({"hosts": ["a", 3]}, "mqtt.hosts"),
        ({"hosts": "a"}, "mqtt.hosts"),
        ({"hosts": ["a", "mqtts://b.example"]}, "without a scheme"),
        ({"hosts": ["a", "b.example:8883"]}, "without a port"),
        ({"hosts": ["a", "b/c"]}, "no spaces or '/'"),
        ({"reconnect_base_s": 40.0, "reconnect_cap_s": 30.0}, "mqtt.reconnect_base_s"),
        ({"reconnect_cap_s": 0.5}, "mqtt.reconnect_cap_s"),
    ],
)
def test_broker_nodes_that_cannot_work_are_refused_naming_the_key(
    keys: dict[str, Any], named: str
) -> None:
    with pytest.raises(ConfigError) as refused:
        from_mapping(mqtt(**keys))
    assert named in str(refused.value)
