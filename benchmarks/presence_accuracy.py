"""How well presence finds true visits, both streams, beside today's tracker in the same run.

The traces are fixed in advance (benchmarks/_presence_traces.py): the two sample
traces in benchmarks/presence/ and edge/sim/tracegen.py seeds 11-18. The model
was tuned on the samples and seeds 11-12 only; 13-18 are held out.

For every trace it runs `omo-edge scan --replay TRACE --json` (the real command,
so the figures are those of the shipped defaults) and scores its `approach.*`
and `visit.*` lines with benchmarks/presence/eval_presence.py, the scorer the
goals are stated in. Today's tracker (benchmarks/_presence_today.py, the one
omo-edge had before the motion model) runs in this process on the same
traces; its `visit.enter` was also what asked central for a decision, so its
visits are scored as both streams.

Printed: per trace, then pooled over the tuned and over the held-out traces
(a pooled p95 is a percentile of every matched visit, not one trace's
slowest), then the worst held-out trace for each figure, and whether the
goals hold pooled on the held-out traces. The last line is one JSON object.

Goals (pooled, held out):
  approach: enter p50 <= 4 s, enter p95 <= 12 s, >= 97 % triggered,
            <= 90 false triggers/h, exit p95 <= 10 s
  visit:    >= 95 % matched, <= 6 false visits/h, exit p95 <= 15 s
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import subprocess
import sys
import tempfile
from collections.abc import Callable
from pathlib import Path
from types import ModuleType
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))  # this checkout's edge, not an installed one

from _presence_today import TodayParams, TodayTracker  # noqa: E402
from _presence_traces import HELD_OUT, HERE, SEEDS, TUNED, Case, samples, write_seed  # noqa: E402

from edge.presence.decode import decode  # noqa: E402
from edge.presence.trace import TraceLineError, read_trace  # noqa: E402

STREAMS = ("approach", "visit")
FIGURES = ("match_rate", "false_per_hour", "enter_p50", "enter_p95", "exit_p50", "exit_p95")
WORSE: dict[str, Callable[[float, float], bool]] = {
    "match_rate": lambda a, b: a < b,
    **{f: (lambda a, b: a > b) for f in FIGURES if f != "match_rate"},
}
GOALS: dict[str, dict[str, tuple[str, float]]] = {
    "approach": {
        "enter_p50": ("<=", 4.0),
        "enter_p95": ("<=", 12.0),
        "match_rate": (">=", 0.97),
        "false_per_hour": ("<=", 90.0),
        "exit_p95": ("<=", 10.0),
    },
    "visit": {
        "match_rate": (">=", 0.95),
        "false_per_hour": ("<=", 6.0),
        "exit_p95": ("<=", 15.0),
    },
}
TRACKERS = ("omo-edge", "today")

Events = list[dict[str, Any]]


def load_scorer(path: Path) -> ModuleType:
    spec = importlib.util.spec_from_file_location("eval_presence", path)
    if spec is None or spec.loader is None or not path.is_file():
        sys.exit(f"scorer {path} not found (pass --scorer)")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def scan_events(trace: Path) -> Events:
    """Both streams as `omo-edge scan --replay TRACE --json` prints them (default config)."""
    out = subprocess.run(
        [
            sys.executable,
            "-m",
            "edge.cli",
            "scan",
            "--replay",
            str(trace),
            "--json",
            "--no-beacons",
        ],
        capture_output=True,
        text=True,
        check=True,
        timeout=900,
        cwd=ROOT,
    )
    lines = [json.loads(line) for line in out.stdout.splitlines() if line.strip()]
    return [e for e in lines if str(e.get("type", "")).startswith(STREAMS)]


def today_events(trace: Path) -> Events:
    """Today's tracker on `trace`, ticked every 0.25 s of trace time as the daemon did."""
    ids = iter(range(10**9))
    tracker = TodayTracker(TodayParams(), lambda: f"v{next(ids)}")
    events, next_tick, last = [], 0.0, 0.0
    for advert in read_trace(trace):
        if isinstance(advert, TraceLineError):
            continue
        last = advert.t
        while advert.t >= next_tick:
            events += tracker.tick(next_tick)
            next_tick += 0.25
        beacon = decode(advert.manufacturer_data, advert.service_data)
        if beacon is not None:
            events += tracker.observe(beacon, advert.rssi, advert.t)
    events += tracker.tick(last) + tracker.close_all(last)
    out: Events = []
    for e in events:  # its visit.enter asked for a decision: its visits are its triggers too
        out.append({"type": e.type, "visitor": e.visitor, "t": e.t})
        out.append({"type": e.type.replace("visit.", "approach."), "visitor": e.visitor, "t": e.t})
    return out


def goals_met(stream: str, summary: dict[str, Any]) -> dict[str, bool]:
    met = {}
    for figure, (op, limit) in GOALS[stream].items():
        value = summary[figure]
        met[figure] = value is not None and (value <= limit if op == "<=" else value >= limit)
    return met


def worst(per_trace: dict[str, dict[str, Any]], names: tuple[str, ...]) -> dict[str, Any]:
    """For each figure, the worst value over `names` and the trace it comes from."""
    out: dict[str, Any] = {}
    for figure in FIGURES:
        best_name, best = None, None
        for name in names:
            value = per_trace[name][figure]
            if value is not None and (best is None or WORSE[figure](value, best)):
                best_name, best = name, value
        out[figure] = {"value": best, "trace": best_name}
    return out


def short(summary: dict[str, Any]) -> str:
    def f(v: Any) -> str:
        return "-" if v is None else f"{v:g}"

    return (
        f"{summary['matched']:>3}/{summary['true_visits']:<3} {f(summary['match_rate']):>6} "
        f"{f(summary['false_per_hour']):>6}/h  enter p50 {f(summary['enter_p50']):>5} "
        f"p95 {f(summary['enter_p95']):>5}  exit p50 {f(summary['exit_p50']):>5} "
        f"p95 {f(summary['exit_p95']):>5}"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--scorer", type=Path, default=HERE / "eval_presence.py")
    parser.add_argument("--keep", type=Path, help="write the generated traces and events here")
    args = parser.parse_args()
    scorer = load_scorer(args.scorer)
    with tempfile.TemporaryDirectory() as tmp:
        folder = args.keep or Path(tmp)
        folder.mkdir(parents=True, exist_ok=True)
        cases: list[Case] = samples() + [write_seed(seed, folder) for seed in SEEDS]
        events: dict[str, dict[str, Events]] = {}
        for case in cases:
            events[case.name] = {
                "omo-edge": scan_events(case.trace),
                "today": today_events(case.trace),
            }
            if args.keep:
                for who, evs in events[case.name].items():
                    path = folder / f"{case.name}.{who}.events.jsonl"
                    path.write_text("".join(json.dumps(e) + "\n" for e in evs))
        truth = {c.name: scorer.load(c.truth) for c in cases}
    minutes = {c.name: c.minutes for c in cases}
    per: dict[str, dict[str, dict[str, dict[str, Any]]]] = {}  # tracker, stream, trace
    for who in TRACKERS:
        per[who] = {
            s: {
                c.name: scorer.score(truth[c.name], events[c.name][who], minutes[c.name], s)
                for c in cases
            }
            for s in STREAMS
        }

    def pooled(who: str, stream: str, names: tuple[str, ...]) -> dict[str, Any]:
        return dict(
            scorer.score_pooled([(truth[n], events[n][who], minutes[n]) for n in names], stream)
        )

    result: dict[str, Any] = {"tuned_on": list(TUNED), "held_out": list(HELD_OUT)}
    for stream in STREAMS:
        print(f"== {stream} ({'fast trigger' if stream == 'approach' else 'counted visits'})")
        print(f"   {'trace':<9} {'tracker':<9} matched  rate  false")
        for c in cases:
            tag = "tuned" if c.name in TUNED else "held"
            for who in TRACKERS:
                label = c.name if who == "omo-edge" else ""
                line = short(per[who][stream][c.name])
                print(f"   {label:<9} {who:<9}{line}  {tag if label else ''}")
        block: dict[str, Any] = {}
        for who in TRACKERS:
            tuned = pooled(who, stream, TUNED)
            held = pooled(who, stream, HELD_OUT)
            block[who] = {
                "tuned_pooled": tuned,
                "held_out_pooled": held,
                "held_out_worst": worst(per[who][stream], HELD_OUT),
                "goals_met_held_out": goals_met(stream, held),
            }
        for scope in ("tuned_pooled", "held_out_pooled"):
            for who in TRACKERS:
                print(f"   {scope:<16}{who:<9}{short(block[who][scope])}")
        for who in TRACKERS:
            w = block[who]["held_out_worst"]
            text = ", ".join(
                f"{f} {w[f]['value']} ({w[f]['trace']})"
                for f in ("match_rate", "false_per_hour", "enter_p50", "enter_p95", "exit_p95")
            )
            print(f"   worst held-out trace, {who}: {text}")
        met = block["omo-edge"]["goals_met_held_out"]
        print(f"   goals, pooled held-out: {met} -> {'MET' if all(met.values()) else 'NOT MET'}")
        result[stream] = block
    result["traces"] = {
        c.name: {who: {s: per[who][s][c.name] for s in STREAMS} for who in TRACKERS} for c in cases
    }
    result["goals_met"] = all(
        all(result[s]["omo-edge"]["goals_met_held_out"].values()) for s in STREAMS
    )
    print(json.dumps(result, separators=(",", ":")))


if __name__ == "__main__":
    main()
