"""Shared fixtures: a real Mosquitto per test, the central simulator, daemon processes, test
fleets' PKI and brokers, a small disk. The helpers they use live in tests/support/."""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from edge.sim.broker import Mosquitto, tls_listener
from edge.sim.central import CentralSim
from tests.support.config import write_config
from tests.support.daemon import DaemonProcess
from tests.support.disk import tmpfs
from tests.support.fleet_broker import FleetBroker
from tests.support.paths import DEMO_TRACE
from tests.support.pki import FleetPki, FleetPkiFull

os.environ.setdefault("SDL_VIDEODRIVER", "dummy")
os.environ.setdefault("SDL_AUDIODRIVER", "dummy")
os.environ.setdefault("PYGAME_HIDE_SUPPORT_PROMPT", "1")


@pytest.fixture(autouse=True)
def _no_display_left_open() -> Iterator[None]:
    """A pygame display left initialised outlives its test in the worker: a later test that
    starts its own (another driver, doctor's probe) would meet it instead."""
    yield
    import pygame

    assert not pygame.display.get_init(), "the test left the pygame display initialised"


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """End-to-end tests first: xdist hands tests out in this order, and a long test started
    last keeps one worker busy while the others have nothing left to do."""
    items.sort(
        key=lambda item: not (item.get_closest_marker("slow") or "integration" in item.nodeid)
    )


@pytest.fixture
def broker(tmp_path: Path) -> Iterator[Mosquitto]:
    with Mosquitto(workdir=tmp_path / "mosquitto") as mosq:
        yield mosq


@pytest.fixture
def central(broker: Mosquitto) -> Iterator[CentralSim]:
    with CentralSim("127.0.0.1", broker.port) as sim:
        yield sim


@pytest.fixture
def device_config(tmp_path: Path, broker: Mosquitto) -> Callable[..., Path]:
    """A provisioned device config on the test broker; keyword tables override sections."""

    def make(trace: Path = DEMO_TRACE, speed: float = 20.0, **tables: dict[str, Any]) -> Path:
        base: dict[str, dict[str, Any]] = {
            "device": {"store_id": "store-1", "device_id": "screen-1"},
            "mqtt": {"host": "127.0.0.1", "port": broker.port},
            "presence": {"source": f"replay:{trace}", "replay_speed": speed},
            "display": {
                "headless": True,
                "width": 960,
                "height": 540,
                "screenshot_dir": str(tmp_path / "shots"),
            },
            # events commit and go at once (the SD-card-sparing defaults hold them a minute)
            "storage": {"path": str(tmp_path / "state" / "outbox.sqlite3"), "hold_s": 0},
            "sync": {"ack_timeout_s": 1.0},
        }
        for section, keys in tables.items():
            base.setdefault(section, {}).update(keys)
        return write_config(tmp_path / "edge.toml", base)

    return make


@pytest.fixture
def daemon() -> Iterator[Callable[..., DaemonProcess]]:
    """Starts `omo-edge ARGS` processes; stops whatever is still running at the end."""
    started: list[DaemonProcess] = []

    def start(*args: str, env: dict[str, str] | None = None) -> DaemonProcess:
        proc = DaemonProcess(list(args), env)
        started.append(proc)
        return proc

    yield start
    for proc in started:
        proc.stop()


@pytest.fixture
def fleet_pki(tmp_path: Path) -> FleetPki:
    return FleetPki(tmp_path / "pki")


@pytest.fixture
def tls_broker(tmp_path: Path, fleet_pki: FleetPki) -> Iterator[Mosquitto]:
    """Mosquitto with mutual TLS: a client certificate is required, its CN is the user name."""
    listener = tls_listener(fleet_pki.ca_cert, fleet_pki.server_cert, fleet_pki.server_key)
    with Mosquitto(workdir=tmp_path / "mosquitto-tls", listener=listener) as mosq:
        yield mosq


@pytest.fixture
def fleet_pki_full(tmp_path: Path) -> FleetPkiFull:
    return FleetPkiFull(tmp_path / "fleet-pki")


@pytest.fixture
def fleet_broker(tmp_path: Path, fleet_pki_full: FleetPkiFull) -> Iterator[FleetBroker]:
    """The documented fleet broker (mutual TLS, CRL, ACL for docs/mosquitto/devices.example)."""
    with FleetBroker(fleet_pki_full, tmp_path / "fleet-broker") as mosq:
        yield mosq


@pytest.fixture
def fleet_central(fleet_broker: FleetBroker, fleet_pki_full: FleetPkiFull) -> Iterator[CentralSim]:
    """The central simulator on the fleet broker's service listener, as user omo-central."""
    from edge.link.tls import TlsFiles

    tls = TlsFiles(
        str(fleet_pki_full.ca_cert),
        str(fleet_pki_full.central_cert),
        str(fleet_pki_full.central_key),
    )
    with CentralSim("127.0.0.1", fleet_broker.central_port, tls=tls) as sim:
        yield sim


@pytest.fixture
def small_disk(tmp_path: Path) -> Iterator[Path]:
    """A 4 MiB tmpfs (needs root, as in CI); skipped where mounting is not allowed."""
    with tmpfs(tmp_path / "small-disk") as mount:
        yield mount


@pytest.fixture
def postgres() -> Iterator[Any]:
    """A throwaway PostgreSQL cluster on 127.0.0.1 (tests/support/postgres.py), removed after."""
    from tests.support.postgres import ThrowawayPostgres, pg_bin

    if pg_bin() is None:
        pytest.skip("PostgreSQL is not installed (scripts/test installs it: apt postgresql)")
    with ThrowawayPostgres() as pg:
        yield pg
