"""`omo-ops cmd` against a real device: each command the tool offers reaches it, its result
is printed, exit 0 on `ok` and 1 on a refusal (docs/ops.md, "Commands")."""

from __future__ import annotations

import logging
from collections.abc import Callable
from pathlib import Path

import pytest

from edge.sim.broker import Mosquitto
from tests.support.cli import ops
from tests.support.device import running_device

pytestmark = [pytest.mark.slow, pytest.mark.timeout(90)]


def test_reload_log_level_purge_and_a_refused_reprovision(
    broker: Mosquitto, device_config: Callable[..., Path]
) -> None:
    to = [
        "--store",
        "store-1",
        "--device",
        "screen-1",
        "--broker",
        f"mqtt://127.0.0.1:{broker.port}",
    ]
    with running_device(device_config(speed=0.001)):
        reload = ops("cmd", *to, "reload")
        assert reload.returncode == 0, reload.stdout + reload.stderr
        assert reload.stdout.startswith("store-1/screen-1 reload ok"), reload.stdout

        level = ops("cmd", *to, "set-log-level", "debug")
        assert level.returncode == 0, level.stdout + level.stderr
        assert "set_log_level ok" in level.stdout, level.stdout
        assert logging.getLogger("edge").getEffectiveLevel() == logging.DEBUG

        purge = ops("cmd", *to, "purge-visitor", "member:42")
        assert purge.returncode == 0, purge.stdout + purge.stderr
        assert "purge_visitor ok" in purge.stdout and "member:42" not in purge.stdout

        # pairing is off on this device: refused with the reason, exit 1, and it stays online
        refused = ops("cmd", *to, "reprovision")
        assert refused.returncode == 1, refused.stdout + refused.stderr
        assert refused.stdout.startswith("store-1/screen-1 reprovision refused: "), refused.stdout
        assert "pairing is off" in refused.stdout, refused.stdout
        again = ops("cmd", *to, "reload")
        assert again.returncode == 0, again.stdout + again.stderr
