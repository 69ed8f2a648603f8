"""The presence benchmark's traces are fixed: the generator is frozen, the samples shipped.

benchmarks/_presence_traces.py holds the digest of what each tracegen seed makes;
a change to edge/sim/tracegen.py that alters one must keep the old traces as files
(the model was tuned on some of them and is scored on the others).
"""

from __future__ import annotations

import importlib.util
import sys
from collections import Counter
from pathlib import Path
from types import ModuleType

import pytest

ROOT = Path(__file__).resolve().parents[3]


def benchmark_set() -> ModuleType:
    path = ROOT / "benchmarks" / "_presence_traces.py"
    spec = importlib.util.spec_from_file_location("_presence_traces", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules.setdefault("_presence_traces", module)
    spec.loader.exec_module(module)
    return module


SET = benchmark_set()


# seeds 11-18, and one training seed of each setting (the benchmark checks the others)
@pytest.mark.parametrize("seed", [*range(11, 19), *range(100, 106)])
def test_each_seed_still_makes_the_same_trace(seed: int) -> None:
    assert SET.seed_digest(seed) == SET.GENERATED_SHA256[seed]


def test_every_seed_has_its_digest_pinned() -> None:
    assert set(SET.GENERATED_SHA256) == set(SET.SEEDS)


def test_tuned_training_and_held_out_are_apart_and_cover_the_set() -> None:
    names = set(SET.SAMPLES) | {f"seed-{s}" for s in SET.SEEDS}
    sets = (set(SET.TUNED), set(SET.TRAINING), set(SET.HELD_OUT))
    assert set.union(*sets) == names
    assert sum(len(s) for s in sets) == len(names)  # no trace in two sets
    assert set(SET.TUNED) == {"store-a", "store-b", "seed-11", "seed-12"}
    assert set(SET.HELD_OUT) == {f"seed-{s}" for s in range(13, 19)}


def test_training_has_the_held_out_variety_in_its_proportions() -> None:
    held = Counter(SET.SEEDS[s] for s in range(13, 19))
    training = Counter(SET.SEEDS[int(n.removeprefix("seed-"))] for n in SET.TRAINING)
    assert training == Counter({settings: 5 * n for settings, n in held.items()})


def test_the_samples_and_the_scorer_ship_with_the_repository() -> None:
    for case in SET.samples():
        assert case.trace.is_file() and case.truth.is_file()
        assert 8 < case.minutes < 11
    assert (SET.HERE / "eval_presence.py").is_file()


def accuracy_benchmark() -> ModuleType:
    path = ROOT / "benchmarks" / "presence_accuracy.py"
    spec = importlib.util.spec_from_file_location("presence_accuracy", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.path.insert(0, str(path.parent))  # its own helpers, as when run as a script
    try:
        spec.loader.exec_module(module)
    finally:
        sys.path.remove(str(path.parent))
    return module


def test_only_unmatchable_visits_still_open_at_the_trace_end_are_left_out() -> None:
    """tracegen's truth has no stay still going on when a trace ends; the figure without
    them drops exactly those device visits, and never one that could match a true stay."""
    bench = accuracy_benchmark()
    scorer = bench.load_scorer(SET.HERE / "eval_presence.py")
    truth = [{"visitor": "a", "enter_t": 100.0, "exit_t": 150.0}]

    def visit(who: str, enter: float, leave: float) -> list[dict[str, object]]:
        return [
            {"type": "visit.enter", "visitor": who, "t": enter},
            {"type": "visit.exit", "visitor": who, "t": leave},
        ]

    end = 600.0
    matched = visit("a", 108.0, 152.0)
    late_true = visit("b", 550.0, end)  # a visitor still at the screen at the end: not in truth
    passer = visit("c", 300.0, 305.0)  # false, closed before the end
    events = matched + late_true + passer
    kept = bench.without_open_at_end(scorer, truth, events, end, "visit")
    assert kept == matched + passer
    raw, censored = scorer.score(truth, events, 10, "visit"), scorer.score(truth, kept, 10, "visit")
    assert (raw["matched"], raw["false"]) == (1, 2)
    assert (censored["matched"], censored["false"]) == (1, 1)
    # a visit open at the end that a true stay ended within 10 s before: kept (it matches)
    still = visit("a", 155.0, end)
    assert bench.without_open_at_end(scorer, truth, still, end, "visit") == still
