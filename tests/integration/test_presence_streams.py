"""The two presence streams end to end: the daemon in this process, a real broker, central.

A passer-by close to the screen can be a fast trigger: it asks central for a decision
(the screen may greet them), but central never receives a `visit.*` event for them,
so analytics count only the visitor who stopped. The visitor's trigger, decision
and counted visit share one `visit_id`.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from edge.sim.central import CentralSim
from tests.support.device import pending, running_device
from tests.support.presence_signals import Radio, adverts, passing, trace_lines, walk_up_and_stay
from tests.support.wait import wait_for

pytestmark = pytest.mark.timeout(90)

VISITOR = "ibeacon:f7826da6-4fa2-4e98-8024-bc5b71e0893e:1:2"
PASSER = "ibeacon:f7826da6-4fa2-4e98-8024-bc5b71e0893e:1:3"


def write_trace(path: Path) -> Path:
    """A visitor stopping at 1.2 m from 20 s to 45 s; a slow passer-by (0.5 m/s) passing
    0.6 m from the screen at 30 s, so within 2.5 m for about 10 s without stopping."""
    stays = adverts(walk_up_and_stay(1.2, 20.0, 45.0), 0.0, 70.0, 0.3, Radio(noise_db=2.0), 1)
    passes = adverts(passing(0.6, 30.0, 0.5), 0.0, 70.0, 0.2, Radio(2.0, noise_db=2.0), 1)
    lines = [*zip([t for t, _ in stays], trace_lines(stays, 1, 2), strict=True)]
    lines += zip([t for t, _ in passes], trace_lines(passes, 1, 3), strict=True)
    path.write_text("".join(line + "\n" for _, line in sorted(lines)))
    return path


def test_a_passer_by_asks_for_a_decision_but_is_never_counted(
    tmp_path: Path, central: CentralSim, device_config: Callable[..., Path]
) -> None:
    trace = write_trace(tmp_path / "floor.jsonl")
    config = device_config(trace=trace, speed=20.0, sync={"ack_timeout_s": 0.5})
    with running_device(config) as device:
        presence, outbox = device.io.presence, device.io.outbox

        def settled() -> bool:  # both beacons gone quiet and forgotten, everything acked
            return (
                bool(central.events_of("approach.exit"))
                and presence.pipeline.tracker.beacons == 0
                and outbox.writer.held == 0
                and pending(device) == 0
            )

        assert wait_for(settled, 40), "the trace's events did not all reach central"

    def of(kind: str, who: str) -> list[str]:
        return [e["visit_id"] for e in central.events_of(kind) if e["visitor"] == who]

    passer_trigger = of("approach.enter", PASSER)
    assert len(passer_trigger) == 1, "the slow passer-by at 0.6 m did not trigger"
    assert of("approach.exit", PASSER) == passer_trigger
    asked = [r for r in central.decide_requests if r["visitor"] == PASSER]
    assert [r["visit_id"] for r in asked] == passer_trigger  # the screen could greet them
    assert not [
        e
        for e in central.events.values()
        if e["type"].startswith("visit.") and e["visitor"] == PASSER
    ], "a passer-by was counted as a visit"

    visit = of("visit.enter", VISITOR)
    assert len(visit) == 1 and of("visit.exit", VISITOR) == visit
    assert of("approach.enter", VISITOR) == visit  # trigger, decision and visit join
    assert [r["visit_id"] for r in central.decide_requests if r["visitor"] == VISITOR] == visit
    enter = next(e for e in central.events_of("visit.enter") if e["visitor"] == VISITOR)
    assert enter["since"] < enter["ts"]  # counted once confident, dated from the stay's start
