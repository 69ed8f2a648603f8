"""The presence benchmark's traces, fixed in advance: two recorded samples and tracegen seeds.

- `store-a`, `store-b` (benchmarks/presence/): the sample traces, with truth files.
- seeds 11-14: `Crowd(minutes=10, visitors_per_hour=120, passers_per_hour=240,
  lingerers_per_hour=48)`; 15-16: `Crowd(minutes=30, visitors_per_hour=120,
  passers_per_hour=300, lingerers_per_hour=40)`; 17: as 11 with a path-loss
  exponent of 2.5; 18: as 11 with 5 dB of fast noise.
- seeds 100-129 (`TRAINING`): the held-out set's variety five times over, in
  its proportions (seed 100 + 6k + i takes the settings of seed 13 + i): 20
  ten-minute BUSY traces (four of them at path-loss 2.5, four at 5 dB of fast
  noise) and 10 thirty-minute LONG ones, 500 minutes in all.

The model's filter was tuned on the samples and seeds 11-12 (`TUNED`: 40
minutes, too few borderline passers-by to show what a lenient visit rule
costs); the visit decision's thresholds on `TRAINING`. Seeds 13-18 are held
out (`HELD_OUT`), never tuned on, and reported apart. edge/sim/tracegen.py is
frozen: `GENERATED_SHA256` are the digests of what each seed produces; a test
keeps seeds 11-18 and 100-105 (one of each setting) true, and `write_seed`
checks every seed it writes. A change to the generator that alters them must
save the old traces as files here first.
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
# the training set: seed 100 + 6k + i is made as held-out seed 13 + i (i = 0-5, k = 0-4)
SEEDS.update({100 + 6 * k + i: SEEDS[13 + i] for k in range(5) for i in range(6)})
GENERATED_SHA256 = {
    11: "ee3e7b0afff1f38962afcd92cfa347dd289a23680a1a31db7ed1e6f2f6e6bc42",
    12: "14287e2658d8add223bc57ce4b19e5e57d37f379c210a170817364e3a81afda3",
    13: "c1f4de85b8b89f184e4c6f23602df16b06b39aa7043a6794ec341ca55e1f0acb",
    14: "fbcc7049b7deb084ee0048526f9e4d11d78c8d2e81f84d9e9ed1e83059d679ef",
    15: "879ea942fc7db6af82bf9951f9f919d747c62d6247e06ca6cb917ac154880f5f",
    16: "5b675791e2cb7317a46ab24dbf16038eadbde19486c9f4b957b89cbe346c8053",
    17: "f8bf9b70b31de9baab3eb8e5bb28174b28ebc2571efb1b3079f682838aa2307a",
    18: "a044af26b4c9bf5d287d4444637f16432148571fc7271cdb218082e9b3d6e2a9",
    100: "ba9798d2994b728a6e9f1fcf43cd29f907aeb7e596e44bbe5d2a31529904f97b",
    101: "b6d1b26aafe678f09618dbc8b14e345544d34c0c186d23be5eef0fb6ab41c0a2",
    102: "5fc07000fb63d7fa7741b21ed91a32863806792e8b443f0f0498641e562c1249",
    103: "3190b30e33cf9fdc2354ed7d1630861dedfc39f6422da24b3cc1b4e029f0a78f",
    104: "50dc672bf70a6fc5500418b113f77c96b3fa791e1707456e316cc9713db4156c",
    105: "725f5a0aa02f40ea166926b438d6a1f2c59dec049c56462ce9bec106f7495567",
    106: "fb7d91073f6873d916a47fd8bf6c0af7cb5065d93fdfdae4e442c2b47b0d0dcd",
    107: "2ce2d620607b32883b90ec2cacf34b69b5f00c968e91ee23e54783e6debcef23",
    108: "49c49c0f5fd0c3ffd170fa7763d5ece59bd17dd6b4d6308b40beb94b900faacd",
    109: "0043b02e47a5602f91cc8c8acb478330bb88a741f85dbdd43c062e3535c7d0b0",
    110: "f59ce9d65cdbd34489c6228526c5f3ee1dfc8dfc73f4aa332336ea8499649633",
    111: "919eafdfce07da87c347bc73c1d9ab4fcb7c9f5a45c556e0c6839deda04c8826",
    112: "6ff88e83183fc8c0db0ab64e1c976bfc0f94d1fbfc46dacdcaf67493d9377886",
    113: "a842514c7e3cee2154afda0805ecc3f38f6dca091e05811451653c3240ab6352",
    114: "01adaed4bad5851cb3015710b3a7907cd516afe21490e69b12e4c0bcd1ecbd33",
    115: "27d43761ff0316753ff3e9e03dcadd41dfd4aeb9485797edac7de3ba39645fb4",
    116: "b7432df0eff1f8f75f527ce6af7ace0dbb97cdd019c028e2cc6cc684d657171b",
    117: "8bddd446310ea51874b00d8d92d2193def6beceab57875f29a078354c79f1025",
    118: "c9b7a30e2107b4f062c4d1d3037b1af156262fa7a447ce45dab4d30efd14679d",
    119: "9d10d8e7adcb37e4b7ea3d0fb1cfe32d1ad14f47f208181d6725cd9b5e2c8052",
    120: "f596e66fb5b7baab721286545499b3f2baef89d9b705c82e5f401ec6a3066e9d",
    121: "d42390b3cd4b2308cb475e34e7a783193a76d43bb60f0df0feb6d9381812ea35",
    122: "743869731c514accae4236f96f4296a2cadb5eab0ca6727c15996fd0b2eea5fb",
    123: "6abec2d6faf2dc8ee8d7ae0bcad3f213b2c5ad4017e67259f79fcf1f626f53af",
    124: "a4f1850cb67ed4dbf8b38ad782512c1ca34b8f4ea480b5c77b4ef24ae0e9c6ea",
    125: "bcba336917b0e91a86f9cee316132fb609ffccce2bcba47bf4b8c2bcae1cf7b7",
    126: "864fe2b731ce6f794b476db88be8ef683ac0f35ad6264f55b86afcfaaef15c11",
    127: "ab41e6ab9a4fbc7274f352af0589bbd15cbaa5847b5cec66dcbc2edd1b418a2f",
    128: "e07af5052cffda89c7dea88a9475399a1267e49446a1b550337cfcce513516ce",
    129: "7291ea11c8f51b5157f7aaee53629089a5bbfb2be774dac4cf6156a1dd6f4e6a",
}
TUNED = ("store-a", "store-b", "seed-11", "seed-12")
TRAINING = tuple(f"seed-{s}" for s in range(100, 130))
HELD_OUT = tuple(f"seed-{s}" for s in range(13, 19))


@dataclass(frozen=True)
class Case:
    """One trace of the set as files: adverts, truth, and its length in minutes."""

    name: str
    trace: Path
    truth: Path
    minutes: float


def write_seed(seed: int, folder: Path) -> Case:
    """Generate seed `seed` of the set into `folder` (trace, truth and kinds files); refuses a
    seed whose trace is no longer the one pinned in `GENERATED_SHA256` (the generator moved)."""
    crowd, radio = SEEDS[seed]
    lines, truth, kinds = generate(crowd, seed, radio)
    if _digest(lines, truth, kinds) != GENERATED_SHA256[seed]:
        raise SystemExit(f"tracegen seed {seed} no longer makes its pinned trace: see {__file__}")
    name = f"seed-{seed}"
    trace, truth_path = folder / f"{name}.jsonl", folder / f"{name}.truth.jsonl"
    trace.write_text("".join(json.dumps(line) + "\n" for line in lines))
    truth_path.write_text("".join(json.dumps(v) + "\n" for v in truth))
    (folder / f"{name}.kinds.json").write_text(json.dumps(kinds, sort_keys=True))
    return Case(name, trace, truth_path, crowd.minutes)


def seed_digest(seed: int) -> str:
    """SHA-256 of what the generator makes of `seed` (adverts, truth, kinds)."""
    crowd, radio = SEEDS[seed]
    return _digest(*generate(crowd, seed, radio))


def _digest(lines: object, truth: object, kinds: object) -> str:
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
