"""`omo-edge scan`: what the presence pipeline makes of adverts, live or from a trace.

Live (`live`) listens to a scanner (BleakSource) until stopped; `t` is seconds
since the scan started. Replay (`replay`) runs a trace as fast as possible, in
trace time. Both print through one `ScanPrinter`: decoded beacons (optional),
presence events, and a counters line at the end (docs/traces.md), as JSON lines or
as text lines ending with the same counters as one JSON object.

A diagnostic, not storage: visitor identities are printed unhashed, as
docs/traces.md says. Nothing is written anywhere unless a live scan is
recorded (`record`), and then with every address replaced by a keyed hash
(edge.presence.record).
"""

from __future__ import annotations

import asyncio
import dataclasses
import json
import logging
import sys
from pathlib import Path
from typing import TextIO

from edge.errors import TraceLineError
from edge.ids import new_id
from edge.presence.advert import Advert, AdvertSource
from edge.presence.decode import BeaconDecoder
from edge.presence.pipeline import PresencePipeline
from edge.presence.record import TraceRecorder
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


class ScanPrinter:
    """Adverts in (in the scan's time), lines out: the one printing path of `scan`."""

    def __init__(
        self,
        params: TrackerParams,
        as_json: bool,
        beacons: bool,
        out: TextIO = sys.stdout,
        *,
        decoder: BeaconDecoder | None = None,
    ) -> None:
        self.pipeline = PresencePipeline(params, new_id, decoder or BeaconDecoder())
        self._json = as_json
        self._beacons = beacons
        self._out = out

    def advert(self, advert: Advert) -> None:
        """Feed one advert; print its beacon (if asked) and any presence events."""
        beacon, events = self.pipeline.feed(advert)
        if self._beacons and beacon is not None:
            self._emit(
                {
                    "type": "beacon",
                    "t": round(advert.t, 3),
                    "beacon": beacon.identity,
                    "kind": beacon.kind,
                    "rssi": advert.rssi,
                }
            )
        self._events(events)

    def tick(self, now: float) -> None:
        """Let the tracker's clock reach `now` (absences end visits while nothing is heard)."""
        self._events(self.pipeline.tick(now))

    def finish(self, now: float, counters: dict[str, int]) -> dict[str, int]:
        """End every open visit at `now`, print the counters line; returns the counters."""
        self._events(self.pipeline.close(now))
        summary = {"type": "counters", "t": round(now, 3), **counters}
        if self._json:
            self._emit(summary)
        else:  # the last line is JSON in text mode too, for a script at the end of a pipe
            self._out.write(json.dumps(summary) + "\n")
        self._out.flush()
        return counters

    def _events(self, events: list[PresenceEvent]) -> None:
        for ev in events:
            self._emit(_event_line(ev))

    def _emit(self, line: dict[str, object]) -> None:
        if self._json:
            self._out.write(json.dumps(line, separators=(",", ":")) + "\n")
        elif line["type"] == "beacon":
            self._out.write(
                f"{line['t']:>9.3f}  {'beacon':<12} {line['beacon']} {line['rssi']} dBm\n"
            )
        else:
            self._out.write(
                f"{line['t']:>9.3f}  {line['type']:<12} {line.get('visitor', '')} "
                f"{line.get('zone', '')}\n"
            )


def replay(
    path: Path,
    params: TrackerParams,
    as_json: bool,
    beacons: bool,
    out: TextIO = sys.stdout,
    *,
    decoder: BeaconDecoder | None = None,
) -> dict[str, int]:
    """Replay `path` as fast as possible; print beacons (optional) and presence events.

    `decoder`: the daemon's (with the config's allow-list); default: every beacon.
    """
    printer = ScanPrinter(params, as_json, beacons, out, decoder=decoder)
    malformed, last_t = 0, 0.0
    for item in read_trace(path):
        if isinstance(item, TraceLineError):
            malformed += 1
            log.warning("trace %s: skipped malformed %s", path.name, item)
            continue
        last_t = item.t
        printer.advert(item)
    p = printer.pipeline
    return printer.finish(
        last_t, {"adverts": p.adverts, "beacons": p.beacons, "malformed": malformed}
    )


async def live(
    source: AdvertSource,
    params: TrackerParams,
    as_json: bool,
    beacons: bool,
    *,
    seconds: float | None = None,
    record: Path | None = None,
    stop: asyncio.Event | None = None,
    out: TextIO = sys.stdout,
    decoder: BeaconDecoder | None = None,
) -> dict[str, int]:
    """Scan until `stop` is set or `seconds` pass; print as `replay` does, `t` from the start.

    `record`: also write every advert heard to this trace file, addresses
    replaced by a keyed hash. The counters line adds the scanner's health
    counters (dropped, restarts, power_cycles) and, when recording, `recorded`.
    """
    printer = ScanPrinter(params, as_json, beacons, out, decoder=decoder)
    stop = stop or asyncio.Event()
    start = source.now()
    recorder = TraceRecorder(record) if record is not None else None

    async def consume() -> None:
        async for heard in source.adverts():
            advert = dataclasses.replace(heard, t=max(0.0, heard.t - start))
            if recorder is not None:
                recorder.write(advert)
            printer.advert(advert)

    async def tick() -> None:
        while True:
            await asyncio.sleep(printer.pipeline.tick_s)
            printer.tick(source.now() - start)
            out.flush()
            if recorder is not None:
                recorder.flush()

    consumer = asyncio.create_task(consume(), name="scan-adverts")
    ticker = asyncio.create_task(tick(), name="scan-ticks")
    stopping = asyncio.create_task(stop.wait(), name="scan-stop")
    try:
        await asyncio.wait(
            {consumer, stopping}, timeout=seconds, return_when=asyncio.FIRST_COMPLETED
        )
    finally:
        for task in (consumer, ticker, stopping):
            task.cancel()
        results = await asyncio.gather(consumer, ticker, stopping, return_exceptions=True)
        if recorder is not None:
            recorder.close()
    failure = results[0]
    if isinstance(failure, Exception):  # the source broke its promise never to raise
        raise failure
    health = source.health()
    p = printer.pipeline
    counters = {"adverts": p.adverts, "beacons": p.beacons}
    for key in ("dropped", "restarts", "power_cycles"):
        counters[key] = int(health[key])
    if recorder is not None:
        counters["recorded"] = recorder.lines
    return printer.finish(source.now() - start, counters)
