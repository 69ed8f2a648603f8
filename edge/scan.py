"""`omo-edge scan --replay TRACE`: what the presence pipeline makes of a trace.

A diagnostic, not storage: visitor identities are printed unhashed, as
ADVERTS.md specifies, and nothing is written anywhere.
"""

from __future__ import annotations

import json
import logging
import sys
from pathlib import Path
from typing import TextIO

from edge.errors import TraceLineError
from edge.ids import new_id
from edge.presence.pipeline import PresencePipeline
from edge.presence.trace import read_trace
from edge.presence.tracker import PresenceEvent, TrackerParams

log = logging.getLogger(__name__)


def _event_line(ev: PresenceEvent) -> dict[str, object]:
    line: dict[str, object] = {
        "type": ev.type,
        "t": round(ev.t, 3),
        "visitor": ev.visitor,
        "visit_id": ev.visit_id,
        "zone": ev.zone,
        "rssi": ev.rssi,
        "since": round(ev.since, 3),
    }
    if ev.dwell_ms is not None:
        line["dwell_ms"] = ev.dwell_ms
    return line


def replay(
    path: Path, params: TrackerParams, as_json: bool, beacons: bool, out: TextIO = sys.stdout
) -> dict[str, int]:
    """Replay `path` as fast as possible; print beacons (optional) and presence events."""
    pipeline = PresencePipeline(params, new_id)
    malformed, last_t = 0, 0.0

    def emit(line: dict[str, object]) -> None:
        if as_json:
            out.write(json.dumps(line, separators=(",", ":")) + "\n")
        elif line["type"] != "beacon":
            out.write(
                f"{line['t']:>9.3f}  {line['type']:<12} {line.get('visitor', '')} "
                f"{line.get('zone', '')}\n"
            )

    for item in read_trace(path):
        if isinstance(item, TraceLineError):
            malformed += 1
            log.warning("trace %s: skipped malformed %s", path.name, item)
            continue
        last_t = item.t
        beacon, events = pipeline.feed(item)
        if beacons and beacon is not None:
            emit(
                {
                    "type": "beacon",
                    "t": round(item.t, 3),
                    "beacon": beacon.identity,
                    "kind": beacon.kind,
                    "rssi": item.rssi,
                }
            )
        for ev in events:
            emit(_event_line(ev))
    for ev in pipeline.close(last_t):
        emit(_event_line(ev))
    counters = {"adverts": pipeline.adverts, "beacons": pipeline.beacons, "malformed": malformed}
    if as_json:
        emit({"type": "counters", "t": round(last_t, 3), **counters})
    else:
        out.write(f"{counters}\n")
    return counters
