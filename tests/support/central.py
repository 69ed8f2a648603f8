"""Reading what the central simulator received while a device is still sending."""

from __future__ import annotations

from typing import Any

from edge.sim.central import CentralSim


def received(central: CentralSim) -> list[dict[str, Any]]:
    """A snapshot of every event central has stored (it may grow while we read: retried)."""
    while True:
        try:
            return list(central.events.values())
        except RuntimeError:  # the simulator's network thread stored one meanwhile
            continue
