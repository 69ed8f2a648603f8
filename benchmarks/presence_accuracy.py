"""How well presence finds true visits, both streams, beside today's tracker in the same run.

The traces are fixed in advance (benchmarks/_presence_traces.py), in three sets
(`--set`, default all): `tuned`, the two sample traces in benchmarks/presence/
and edge/sim/tracegen.py seeds 11-12, on which the model's filter was tuned;
`training`, seeds 100-129 (500 minutes, the held-out variety five times over),
on which the visit decision's thresholds were chosen (benchmarks/_presence_sweep.py);
`held-out`, seeds 13-18, never tuned on.

For every trace it runs `omo-edge scan --replay TRACE --json` (the real command,
so the figures are those of the shipped defaults) and scores its `approach.*`
and `visit.*` lines with benchmarks/presence/eval_presence.py, the scorer the
goals are stated in. Today's tracker (benchmarks/_presence_today.py, the one
omo-edge had before the motion model) runs in this process on the same
traces; its `visit.enter` was also what asked central for a decision, so its
visits are scored as both streams.

Printed: per trace, then pooled over each set scored (a pooled p95 is a
percentile of every matched visit, not one trace's slowest), then for the
training and held-out sets the worst trace for each figure and whether the
goals hold pooled (they are stated on the held-out set: `goals_met`). The
last line is one JSON object.

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
from _presence_traces import (  # noqa: E402
    HELD_OUT,
    HERE,
    SAMPLES,
    TRAINING,
    TUNED,
    Case,
    samples,
    write_seed,
)

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
SETS: dict[str, tuple[str, ...]] = {"tuned": TUNED, "training": TRAINING, "held_out": HELD_OUT}

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


def last_advert_t(trace: Path) -> float:
    """When the trace ends: the time of its last advert (where the replay closes what is open)."""
    last = 0.0
    for advert in read_trace(trace):
        if not isinstance(advert, TraceLineError):
            last = advert.t
    return last


def without_open_at_end(
    scorer: ModuleType, truth: Events, events: Events, end: float, stream: str
) -> Events:
    """`events` less the visits still open when the trace ended that no true stay could match.

    The truth lists only stays that ended before the trace did (tracegen drops a stay still
    going on at its end), while the device counts such a stay once it is sure, and the replay
    closes it at the last advert: scored raw it is a false visit, though in a store, where
    nothing ends at minute 10, it is a true one. Only visits that cannot match (their beacon
    has no true stay ending later than the scorer's slack before their enter) are dropped,
    so the matched count never changes; a passer-by's visit open at the end is dropped too,
    which is the price of the censoring (both sides are censored alike)."""
    slack = scorer.SLACK_S[stream]
    stays: dict[str, list[float]] = {}
    for t in truth:
        stays.setdefault(t["visitor"], []).append(float(t["exit_t"]))
    dropped = set()
    for visitor, enter, exit_ in scorer.visits_from_events(events, stream):
        if exit_ >= end - 1e-3 and all(x + slack < enter for x in stays.get(visitor, [])):
            dropped |= {(f"{stream}.enter", visitor, enter), (f"{stream}.exit", visitor, exit_)}
    return [e for e in events if (e.get("type"), e.get("visitor"), e.get("t")) not in dropped]


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
    parser.add_argument(
        "--set",
        choices=("all", "tuned", "training", "held-out"),
        default="all",
        help="which traces to score (default all; each set is pooled apart)",
    )
    args = parser.parse_args()
    scorer = load_scorer(args.scorer)
    sets = {k: v for k, v in SETS.items() if args.set in ("all", k.replace("_", "-"))}
    names = [n for chosen in sets.values() for n in chosen]
    with tempfile.TemporaryDirectory() as tmp:
        folder = args.keep or Path(tmp)
        folder.mkdir(parents=True, exist_ok=True)
        cases: list[Case] = [c for c in samples() if c.name in names] + [
            write_seed(int(n.removeprefix("seed-")), folder) for n in names if n not in SAMPLES
        ]
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
        ends = {c.name: last_advert_t(c.trace) for c in cases}
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
        out = dict(
            scorer.score_pooled([(truth[n], events[n][who], minutes[n]) for n in names], stream)
        )
        censored = scorer.score_pooled(
            [
                (
                    truth[n],
                    without_open_at_end(scorer, truth[n], events[n][who], ends[n], stream),
                    minutes[n],
                )
                for n in names
            ],
            stream,
        )
        out["false_per_hour_open_at_end_excluded"] = censored["false_per_hour"]
        return out

    result: dict[str, Any] = {"sets": {k: list(v) for k, v in sets.items()}}
    for stream in STREAMS:
        print(f"== {stream} ({'fast trigger' if stream == 'approach' else 'counted visits'})")
        print(f"   {'trace':<9} {'tracker':<9} matched  rate  false")
        for c in cases:
            tag = next(k for k, v in sets.items() if c.name in v)
            for who in TRACKERS:
                label = c.name if who == "omo-edge" else ""
                line = short(per[who][stream][c.name])
                print(f"   {label:<9} {who:<9}{line}  {tag if label else ''}")
        block: dict[str, Any] = {who: {} for who in TRACKERS}
        for who in TRACKERS:
            for key, chosen in sets.items():
                block[who][f"{key}_pooled"] = pooled(who, stream, chosen)
                if key != "tuned":  # the samples are no busy aisle: their worst says little
                    block[who][f"{key}_worst"] = worst(per[who][stream], chosen)
                    block[who][f"goals_met_{key}"] = goals_met(stream, block[who][f"{key}_pooled"])
        for key in sets:
            for who in TRACKERS:
                pool = block[who][f"{key}_pooled"]
                excluded = pool["false_per_hour_open_at_end_excluded"]
                print(
                    f"   {key + '_pooled':<16}{who:<9}{short(pool)}  [{excluded}/h w/o open at end]"
                )
        for key in (k for k in sets if k != "tuned"):
            for who in TRACKERS:
                w = block[who][f"{key}_worst"]
                text = ", ".join(
                    f"{f} {w[f]['value']} ({w[f]['trace']})"
                    for f in ("match_rate", "false_per_hour", "enter_p50", "enter_p95", "exit_p95")
                )
                print(f"   worst {key} trace, {who}: {text}")
            met = block["omo-edge"][f"goals_met_{key}"]
            verdict = "MET" if all(met.values()) else "NOT MET"
            print(f"   goals, pooled {key}: {met} -> {verdict}")
        result[stream] = block
    result["traces"] = {
        c.name: {who: {s: per[who][s][c.name] for s in STREAMS} for who in TRACKERS} for c in cases
    }
    if "held_out" in sets:  # the goals are stated on the held-out traces
        result["goals_met"] = all(
            all(result[s]["omo-edge"]["goals_met_held_out"].values()) for s in STREAMS
        )
    print(json.dumps(result, separators=(",", ":")))


if __name__ == "__main__":
    main()
