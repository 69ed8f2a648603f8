"""The `omo-ops` command: what runs off the device, split from `omo-edge`; bad input is
refused in plain words, naming the flag, before anything starts."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.support.cli import omo_edge, ops
from tests.support.fleet_broker import FLEET_ACL, FLEET_INVENTORY

PAIR = ["provision", "pair", "omo-x", "--code", "1", "--store", "s", "--broker", "mqtts://b"]
PAIR += ["--ca", "ca.pem", "--csr-out", "."]
VERIFY = ["provision", "verify", "omo-x", "--broker", "mqtts://b", "--ca", "c", "--cert", "c"]
VERIFY += ["--key", "k"]


def test_ops_commands_live_in_omo_ops_and_no_longer_in_omo_edge(tmp_path: Path) -> None:
    acl = ops("fleet", "acl", str(FLEET_INVENTORY), "--out", str(tmp_path / "fleet.acl"))
    assert acl.returncode == 0, acl.stderr
    assert (tmp_path / "fleet.acl").read_text() == FLEET_ACL.read_text()
    for gone in ("provision", "fleet-acl", "central-sim"):
        old = omo_edge(gone, "--help")
        assert old.returncode == 2 and f"invalid choice: '{gone}'" in old.stderr
    helped = ops("--help")
    assert helped.returncode == 0
    assert all(group in helped.stdout for group in ("provision", "fleet", "central-sim"))


@pytest.mark.parametrize(
    ("args", "flag"),
    [
        (["provision", "list", "--wait", "-1"], "--wait"),
        (["provision", "list", "--wait", "0"], "--wait"),
        ([*PAIR, "--csr-wait", "-1"], "--csr-wait"),
        ([*VERIFY, "--timeout", "0"], "--timeout"),
    ],
)
def test_a_number_that_makes_no_sense_is_refused_naming_the_flag(
    args: list[str], flag: str
) -> None:
    out = ops(*args)
    assert out.returncode == 2, out.stderr
    assert f"argument {flag}: give a number above 0, not '{args[-1]}'" in out.stderr
    assert "Traceback" not in out.stderr


def test_central_sim_refuses_a_bad_port_and_a_missing_known_file(tmp_path: Path) -> None:
    port = ops("central-sim", "--port", "70000")
    assert port.returncode == 2
    assert "argument --port: give a port number 1-65535, not '70000'" in port.stderr
    known = ops("central-sim", "--known", str(tmp_path / "nope.txt"))
    assert known.returncode == 2 and "Traceback" not in known.stderr
    assert f"omo-ops: cannot read --known {tmp_path / 'nope.txt'}" in known.stderr
