"""Both streams' trade-offs on the training traces: the trigger's false triggers against
its enter latency, and the counted visit's matched share against false visits.

Run by hand (`python benchmarks/_presence_sweep.py`, about 10 minutes on one
core; scripts/bench leaves it out): it is how the trigger's and the visit's
thresholds were chosen, not a figure of the shipped defaults.

Both decisions (the trigger's `trigger_probability`; the visit's
`visit_probability`, `visit_end_probability`, `track_end_probability`) read the
filter's probabilities and never feed back into them, so the filter runs once
per trace while its summaries are recorded, and each point of the sweep
replays only the decisions over those recordings: the whole sweep costs
little more than one run. The replay at the recorded keys must give the run's
own events exactly, or the sweep stops (a check that the shortcut is exact).
`--key NAME=VALUE` (repeatable) runs the filter with other model keys than the
shipped defaults (the motion prior, say): each such change needs its own run.

Only the training traces (benchmarks/_presence_traces.py `TRAINING`, seeds
100-129, the held-out set's variety five times over) are used: the
thresholds are chosen here, and the held-out traces are only scored, by
benchmarks/presence_accuracy.py. Printed: one line per point, pooled over the
training traces, the recorded keys marked: the trigger's points (approach
stream: triggered share, false triggers/h, enter p50 / p95, exit p95), then
the visit's, with false visits also counted without the visits still open
when a trace ended (see presence_accuracy.py `without_open_at_end`); the last
line is one JSON object (every point).
"""

from __future__ import annotations

import argparse
import dataclasses
import itertools
import json
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))  # this checkout's edge, not an installed one

from _presence_traces import HERE, TRAINING, Case, write_seed  # noqa: E402
from presence_accuracy import last_advert_t, load_scorer, without_open_at_end  # noqa: E402

from edge.presence.filterbank import FilterBank  # noqa: E402
from edge.presence.pipeline import PresencePipeline  # noqa: E402
from edge.presence.trace import TraceLineError, read_trace  # noqa: E402
from edge.presence.tracker import PresenceEvent, TrackerParams  # noqa: E402

Events = list[dict[str, Any]]
TRIGGER_PROBABILITY = (0.5, 0.54, 0.55, 0.56, 0.57, 0.575, 0.6, 0.625, 0.65, 0.7)
VISIT_PROBABILITY = (0.7, 0.75, 0.8, 0.85, 0.9)
VISIT_END_PROBABILITY = (0.6, 0.7, 0.8)
TRACK_END_PROBABILITY = (0.2,)


class RecordingBank(FilterBank):
    """The real filter, keeping every summary and level it hands out, in order."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.summaries: list[np.ndarray] = []
        self.levels: list[float] = []

    def summary(self) -> np.ndarray:
        out = super().summary()
        self.summaries.append(out.copy())
        return out

    def level_db(self, r: int) -> float:
        out = super().level_db(r)
        self.levels.append(out)
        return out


class ReplayBank:
    """Hands out a recording's summaries and levels in the order they were made; rows are
    added and removed as the filter did (which beacons are held never depends on a decision)."""

    def __init__(self, recorded: RecordingBank) -> None:
        self._summaries: Iterator[np.ndarray] = iter(recorded.summaries)
        self._levels: Iterator[float] = iter(recorded.levels)
        self._n = 0

    def add(self) -> int:
        self._n += 1
        return self._n - 1

    def remove(self, r: int) -> int:
        self._n -= 1
        return self._n

    def step(self, count: np.ndarray, total: np.ndarray) -> None:
        pass

    def summary(self) -> np.ndarray:
        return next(self._summaries)

    def level_db(self, r: int) -> float:
        return next(self._levels)


def run(trace: Path, params: TrackerParams, recorded: RecordingBank | None) -> tuple[Events, Any]:
    """Replay `trace` as `omo-edge scan --replay` does: both streams, and the bank used."""
    ids = itertools.count()
    pipeline = PresencePipeline(params, lambda: f"v{next(ids)}")
    tracker = pipeline.tracker
    bank: Any = RecordingBank(tracker.model) if recorded is None else ReplayBank(recorded)
    tracker.bank = bank
    events: list[PresenceEvent] = []
    last = 0.0
    for advert in read_trace(trace):
        if isinstance(advert, TraceLineError):
            continue
        last = advert.t
        events += pipeline.feed(advert)[1]
    events += pipeline.close(last)
    streams = [
        {"type": e.type, "visitor": e.visitor, "t": e.t}
        for e in events
        if e.type.startswith(("visit.", "approach."))
    ]
    return streams, bank


def model_keys(pairs: list[str]) -> dict[str, float]:
    """`NAME=VALUE` pairs as TrackerParams overrides (integers stay integers)."""
    fields = {f.name: f for f in dataclasses.fields(TrackerParams)}
    out: dict[str, float] = {}
    for pair in pairs:
        name, _, value = pair.partition("=")
        if name not in fields:
            sys.exit(f"--key {pair}: no such [presence] key")
        out[name] = int(value) if fields[name].type in (int, "int") else float(value)
    return out


def replay_points(
    recordings: dict[str, tuple[Case, RecordingBank, Events]],
    base: TrackerParams,
    points: list[TrackerParams],
    stream: str,
    *,
    scorer: Any,
    truth: dict[str, Events],
    ends: dict[str, float],
) -> Iterator[tuple[TrackerParams, dict[str, Any]]]:
    """Each point's `stream` scored pooled over the recordings, replaying decisions only."""
    for params in points:
        cases, censored = [], []
        for name, (case, bank, recorded_events) in recordings.items():
            events, _ = run(case.trace, params, bank)
            if params == base and events != recorded_events:
                sys.exit(f"replay of {name} at the recorded keys is not the run: stopping")
            cases.append((truth[name], events, case.minutes))
            kept = without_open_at_end(scorer, truth[name], events, ends[name], stream)
            censored.append((truth[name], kept, case.minutes))
        pooled = dict(scorer.score_pooled(cases, stream))
        excluded = scorer.score_pooled(censored, stream)["false_per_hour"]
        pooled["false_per_hour_open_at_end_excluded"] = excluded
        yield params, pooled


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--scorer", type=Path, default=HERE / "eval_presence.py")
    parser.add_argument(
        "--key", action="append", default=[], help="NAME=VALUE: run the filter with this key"
    )
    args = parser.parse_args()
    scorer = load_scorer(args.scorer)
    keys = model_keys(args.key)
    base = dataclasses.replace(TrackerParams(), **keys)
    recordings: dict[str, tuple[Case, RecordingBank, Events]] = {}
    with tempfile.TemporaryDirectory() as tmp:
        for name in TRAINING:
            case = write_seed(int(name.removeprefix("seed-")), Path(tmp))
            events, bank = run(case.trace, base, None)
            recordings[name] = (case, bank, events)
            print(f"   recorded {name} ({case.minutes:g} min)", file=sys.stderr)
        truth = {n: scorer.load(c.truth) for n, (c, _, _) in recordings.items()}
        ends = {n: last_advert_t(c.trace) for n, (c, _, _) in recordings.items()}
        print(f"   model keys: {keys or 'the shipped defaults'}")
        trigger_points: list[dict[str, Any]] = []
        print("   trigger_p   triggered   rate  false/h  enter_p50  enter_p95  exit_p95")
        grid = [
            dataclasses.replace(
                base,
                trigger_probability=t,
                trigger_release_probability=min(base.trigger_release_probability, t / 2),
            )
            for t in TRIGGER_PROBABILITY
        ]
        if base not in grid:
            grid.append(base)
        for params, pooled in replay_points(
            recordings, base, grid, "approach", scorer=scorer, truth=truth, ends=ends
        ):
            trigger_points.append({"trigger_probability": params.trigger_probability, **pooled})
            mark = "  <- recorded" if params == base else ""
            print(
                f"   {params.trigger_probability:>9}   {pooled['matched']:>3}/"
                f"{pooled['true_visits']:<4} {pooled['match_rate']:>6} "
                f"{pooled['false_per_hour']:>7} {pooled['enter_p50']!s:>10} "
                f"{pooled['enter_p95']!s:>10} {pooled['exit_p95']!s:>9}{mark}",
                flush=True,
            )
        visit_points: list[dict[str, Any]] = []
        print(
            "   visit_p  end_p  track_end_p   matched   rate  false/h  (w/o open at end)  exit_p95"
        )
        grid = [
            dataclasses.replace(
                base,
                visit_probability=visit_p,
                visit_end_probability=end_p,
                track_end_probability=track_p,
            )
            for visit_p, end_p, track_p in itertools.product(
                VISIT_PROBABILITY, VISIT_END_PROBABILITY, TRACK_END_PROBABILITY
            )
            if end_p <= visit_p
        ]
        if base not in grid:
            grid.append(base)
        for params, pooled in replay_points(
            recordings, base, grid, "visit", scorer=scorer, truth=truth, ends=ends
        ):
            visit_points.append(
                {
                    "visit_probability": params.visit_probability,
                    "visit_end_probability": params.visit_end_probability,
                    "track_end_probability": params.track_end_probability,
                    **pooled,
                }
            )
            mark = "  <- recorded" if params == base else ""
            excluded = pooled["false_per_hour_open_at_end_excluded"]
            print(
                f"   {params.visit_probability:>7} {params.visit_end_probability:>6} "
                f"{params.track_end_probability:>12}   {pooled['matched']:>3}/"
                f"{pooled['true_visits']:<4} {pooled['match_rate']:>6} "
                f"{pooled['false_per_hour']:>7} {excluded:>18} {pooled['exit_p95']!s:>9}{mark}",
                flush=True,
            )
    print(
        json.dumps(
            {
                "set": "training",
                "model_keys": keys,
                "traces": list(TRAINING),
                "trigger_points": trigger_points,
                "visit_points": visit_points,
            }
        )
    )


if __name__ == "__main__":
    main()
