"""How well presence tracking finds true visits: every sample trace, scored against its truth.

Runs `omo-edge scan --replay TRACE --json` (the real command) on every trace
that has a `NAME.truth.jsonl` beside it (default: ../shared/traces), scores
the output with ../shared/eval_presence.py, and does the same for a named
baseline in this process: a plain moving average with a distance threshold
(benchmarks/_baseline.py), the usual approach of open presence gateways.
Also scores synthetic traces from edge/sim/tracegen.py (a harsher crowd
model of our own) as a check against tuning to two samples.

Goals (every trace at once): matched >= 95 %, <= 6 false visits/h,
enter p50 <= 4 s, p95 <= 8 s, exit p95 <= 10 s.
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import subprocess
import sys
import tempfile
from pathlib import Path
from types import ModuleType
from typing import Any

from _baseline import MovingAverageTracker

from edge.presence.decode import decode
from edge.presence.trace import TraceLineError, read_trace
from edge.sim.tracegen import Crowd, generate

ROOT = Path(__file__).resolve().parent.parent
FIGURES = ("match_rate", "false_per_hour", "enter_p50", "enter_p95", "exit_p95")
WORST = {
    "match_rate": min,
    "false_per_hour": max,
    "enter_p50": max,
    "enter_p95": max,
    "exit_p95": max,
}


def load_scorer(path: Path) -> ModuleType:
    spec = importlib.util.spec_from_file_location("eval_presence", path)
    if spec is None or spec.loader is None or not path.is_file():
        sys.exit(f"scorer {path} not found (pass --scorer)")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def scan_events(trace: Path) -> list[dict[str, Any]]:
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
        timeout=600,
    )
    return [json.loads(line) for line in out.stdout.splitlines() if line.strip()]


def baseline_events(trace: Path) -> list[dict[str, Any]]:
    tracker, events, next_tick, last = MovingAverageTracker(), [], 0.0, 0.0
    for advert in read_trace(trace):
        if isinstance(advert, TraceLineError):
            continue
        last = advert.t
        while advert.t >= next_tick:
            events += tracker.tick(next_tick)
            next_tick += 0.25
        beacon = decode(advert.manufacturer_data, advert.service_data)
        if beacon is not None:
            events += tracker.observe(beacon.identity, beacon.tx_power_1m, advert.rssi, advert.t)
    events += tracker.tick(last + 3600)
    return [{"type": k, "visitor": v, "t": t} for k, v, t in events]


def minutes_of(trace: Path) -> float:
    last = 0.0
    for advert in read_trace(trace):
        if not isinstance(advert, TraceLineError):
            last = advert.t
    return max(last, 1.0) / 60


def worst(results: dict[str, dict[str, Any]]) -> dict[str, Any]:
    return {f: WORST[f](r[f] for r in results.values() if r[f] is not None) for f in FIGURES}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--traces", type=Path, default=ROOT.parent / "shared" / "traces")
    parser.add_argument("--scorer", type=Path, default=ROOT.parent / "shared" / "eval_presence.py")
    parser.add_argument("--synthetic", type=int, default=3, help="synthetic traces to add")
    args = parser.parse_args()
    scorer = load_scorer(args.scorer)
    traces = sorted(
        p
        for p in args.traces.glob("*.jsonl")
        if not p.name.endswith(".truth.jsonl") and p.with_name(p.stem + ".truth.jsonl").is_file()
    )
    ours: dict[str, dict[str, Any]] = {}
    base: dict[str, dict[str, Any]] = {}
    synthetic: dict[str, dict[str, Any]] = {}
    for trace in traces:
        truth = scorer.load(trace.with_name(trace.stem + ".truth.jsonl"))
        minutes = minutes_of(trace)
        ours[trace.stem] = scorer.score(truth, scan_events(trace), minutes)
        base[trace.stem] = scorer.score(truth, baseline_events(trace), minutes)
        print(f"{trace.stem:>10}  omo-edge  {json.dumps(ours[trace.stem])}")
        print(f"{'':>10}  baseline  {json.dumps(base[trace.stem])}")
    with tempfile.TemporaryDirectory() as tmp:
        for seed in range(args.synthetic):
            lines, truth, _kinds = generate(Crowd(), seed)
            path = Path(tmp) / f"synthetic-{seed}.jsonl"
            path.write_text("".join(json.dumps(line) + "\n" for line in lines))
            synthetic[path.stem] = scorer.score(truth, scan_events(path), Crowd().minutes)
            print(f"{path.stem:>10}  omo-edge  {json.dumps(synthetic[path.stem])}")
    if not ours:
        sys.exit(f"no traces with truth files in {args.traces}")
    print("worst over the sample traces:")
    print(f"  omo-edge  {json.dumps(worst(ours))}")
    print(f"  baseline  {json.dumps(worst(base))}")
    if synthetic:
        print(f"  synthetic {json.dumps(worst(synthetic))}")
    print(
        json.dumps(
            {
                "traces": {name: {f: r[f] for f in FIGURES} for name, r in ours.items()},
                "worst": worst(ours),
                "baseline_moving_average_worst": worst(base),
                "synthetic_worst": worst(synthetic) if synthetic else None,
            }
        )
    )


if __name__ == "__main__":
    main()
