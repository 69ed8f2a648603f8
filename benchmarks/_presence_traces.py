"""The presence benchmark's traces, fixed in advance: two recorded samples and tracegen seeds.

- `store-a`, `store-b` (benchmarks/presence/): the sample traces, with truth files.
- seeds 11-14: `Crowd(minutes=10, visitors_per_hour=120, passers_per_hour=240,
  lingerers_per_hour=48)`; 15-16: `Crowd(minutes=30, visitors_per_hour=120,
  passers_per_hour=300, lingerers_per_hour=40)`; 17: as 11 with a path-loss
  exponent of 2.5; 18: as 11 with 5 dB of fast noise.

The presence model was tuned on the samples and seeds 11-12 only (`TUNED`);
13-18 are held out (`HELD_OUT`) and reported apart. edge/sim/tracegen.py is
frozen: `GENERATED_SHA256` are the digests of what each seed produces, and a
test keeps them true. A change to the generator that alters them must save the
old traces as files here first.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from pathlib import Path

from edge.sim.tracegen import Crowd, Radio, generate

HERE = Path(__file__).resolve().parent / "presence"
SAMPLES = ("store-a", "store-b")

BUSY = Crowd(minutes=10, visitors_per_hour=120, passers_per_hour=240, lingerers_per_hour=48)
LONG = Crowd(minutes=30, visitors_per_hour=120, passers_per_hour=300, lingerers_per_hour=40)
SEEDS: dict[int, tuple[Crowd, Radio]] = {
    11: (BUSY, Radio()),
    12: (BUSY, Radio()),
    13: (BUSY, Radio()),
    14: (BUSY, Radio()),
    15: (LONG, Radio()),
    16: (LONG, Radio()),
    17: (BUSY, Radio(path_loss_exponent=2.5)),
    18: (BUSY, Radio(fast_noise_db=5.0)),
}
GENERATED_SHA256 = {
    11: "ee3e7b0afff1f38962afcd92cfa347dd289a23680a1a31db7ed1e6f2f6e6bc42",
    12: "14287e2658d8add223bc57ce4b19e5e57d37f379c210a170817364e3a81afda3",
    13: "c1f4de85b8b89f184e4c6f23602df16b06b39aa7043a6794ec341ca55e1f0acb",
    14: "fbcc7049b7deb084ee0048526f9e4d11d78c8d2e81f84d9e9ed1e83059d679ef",
    15: "879ea942fc7db6af82bf9951f9f919d747c62d6247e06ca6cb917ac154880f5f",
    16: "5b675791e2cb7317a46ab24dbf16038eadbde19486c9f4b957b89cbe346c8053",
    17: "f8bf9b70b31de9baab3eb8e5bb28174b28ebc2571efb1b3079f682838aa2307a",
    18: "a044af26b4c9bf5d287d4444637f16432148571fc7271cdb218082e9b3d6e2a9",
}
TUNED = ("store-a", "store-b", "seed-11", "seed-12")
HELD_OUT = tuple(f"seed-{s}" for s in range(13, 19))


@dataclass(frozen=True)
class Case:
    """One trace of the set as files: adverts, truth, and its length in minutes."""

    name: str
    trace: Path
    truth: Path
    minutes: float


def write_seed(seed: int, folder: Path) -> Case:
    """Generate seed `seed` of the set into `folder` (trace, truth and kinds files)."""
    crowd, radio = SEEDS[seed]
    lines, truth, kinds = generate(crowd, seed, radio)
    name = f"seed-{seed}"
    trace, truth_path = folder / f"{name}.jsonl", folder / f"{name}.truth.jsonl"
    trace.write_text("".join(json.dumps(line) + "\n" for line in lines))
    truth_path.write_text("".join(json.dumps(v) + "\n" for v in truth))
    (folder / f"{name}.kinds.json").write_text(json.dumps(kinds, sort_keys=True))
    return Case(name, trace, truth_path, crowd.minutes)


def seed_digest(seed: int) -> str:
    """SHA-256 of what the generator makes of `seed` (adverts, truth, kinds)."""
    crowd, radio = SEEDS[seed]
    lines, truth, kinds = generate(crowd, seed, radio)
    text = json.dumps([lines, truth, kinds], sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(text.encode()).hexdigest()


def samples() -> list[Case]:
    """The two recorded sample traces (their length: the last advert's time)."""
    cases = []
    for name in SAMPLES:
        trace = HERE / f"{name}.jsonl"
        last = 0.0
        with trace.open() as fh:
            for line in fh:
                if line.strip():
                    last = float(json.loads(line)["t"])
        cases.append(Case(name, trace, HERE / f"{name}.truth.jsonl", max(last, 1.0) / 60))
    return cases
