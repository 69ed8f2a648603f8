"""Durations in the config (`[mqtt] renew_before`, `renew_retry`): what an operator
writes, what the device reads, and what it refuses with the key named."""

from __future__ import annotations

import pytest

from edge.config.keys import duration_s
from edge.config.load import from_mapping
from edge.errors import ConfigError


@pytest.mark.parametrize(
    ("text", "seconds"),
    [("30d", 2_592_000), ("12h", 43_200), ("2m", 120), ("90s", 90), ("0.5s", 0.5)],
)
def test_a_duration_reads_as_seconds(text: str, seconds: float) -> None:
    assert duration_s(text) == seconds


def test_renewal_defaults_to_thirty_days_before_expiry_asking_again_hourly() -> None:
    mqtt = from_mapping({}).mqtt
    assert (duration_s(mqtt.renew_before), duration_s(mqtt.renew_retry)) == (30 * 86400, 3600)


@pytest.mark.parametrize("bad", ["30", "d", "-1d", "0m", "2 weeks", "1.5.2h", "", "1w"])
def test_a_bad_duration_is_refused_naming_the_key(bad: str) -> None:
    with pytest.raises(ConfigError) as refused:
        from_mapping({"mqtt": {"renew_before": bad}})
    assert refused.value.key == "mqtt.renew_before"
    assert "30d" in refused.value.allowed  # says what is allowed
