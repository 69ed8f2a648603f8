"""The test broker (edge/sim/broker.py) is the one that answers on its port: parallel tests
pick free ports too, and one taken in between must not pass for a running broker."""

from __future__ import annotations

from pathlib import Path

import pytest

from edge.sim import broker as broker_mod
from edge.sim.broker import BrokerError, Mosquitto
from tests.support.fleet_broker import FleetBroker
from tests.support.pki import FleetPkiFull


def test_a_port_taken_by_another_broker_is_refused_in_plain_words(tmp_path: Path) -> None:
    with Mosquitto() as first:
        second = Mosquitto(port=first.port, workdir=tmp_path)  # the caller's port: kept
        with pytest.raises(BrokerError, match="Address already in use"):
            second.start()
        assert not second.running and first.running


def test_a_free_port_taken_meanwhile_is_picked_again(monkeypatch: pytest.MonkeyPatch) -> None:
    with Mosquitto() as first:
        picks = iter([first.port])  # the next pick is the port `first` took meanwhile
        real = broker_mod.free_port
        monkeypatch.setattr(broker_mod, "free_port", lambda: next(picks, None) or real())
        with Mosquitto() as second:
            assert second.port != first.port and second.running
            assert broker_mod._listens(second.pid or 0, second.port)


def test_the_fleet_broker_picks_both_ports_again_when_one_was_taken(
    fleet_pki_full: FleetPkiFull, tmp_path: Path
) -> None:
    """The documented fleet broker (two listeners) in a test: a port another process took
    between the pick and the bind is not a failed test, it is another pick."""
    with Mosquitto() as squatter:
        fleet = FleetBroker(fleet_pki_full, tmp_path / "fleet")
        fleet.port = squatter.port  # taken meanwhile, as by a parallel test's broker
        fleet.config.write_text(fleet._conf())
        with fleet:
            assert fleet.running and fleet.port != squatter.port
            assert broker_mod._listens(fleet.pid or 0, fleet.port)
            assert broker_mod._listens(fleet.pid or 0, fleet.central_port)
