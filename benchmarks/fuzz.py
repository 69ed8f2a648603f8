"""Long-run fuzzing: every input the device takes from outside, by the hundred thousand.

Targets and generators are those of the test suite (tests/support/fuzz_targets.py): real
frames, payloads, files and requests, mutated from a seeded `random.Random`
(fast enough for a million adverts, where hypothesis' generation is not), and
plain garbage. For each target it counts the inputs run, how many were
accepted, and how many *escaped*: an exception that is not the module's
documented rejection, or an accepted input that is not well formed. The first
escapes of each target are printed with their input, for a regression test.

Usage: python benchmarks/fuzz.py [--adverts N] [--per-handler N] [--seed S]
Defaults: 1,000,000 adverts and 10,000 inputs per handler.

Measured (seed 20240611, 2 shared cores, 140 s): 1,000,000 adverts (268,785 named a
visitor) and 10,000 inputs through each of 14 handlers, 0 escaped. The first runs
found five bugs, now fixed and kept as tests in tests/unit/*/test_fuzz_*.py.

The last line is one JSON object.
"""

from __future__ import annotations

import argparse
import json
import logging
import random
import sys
import tempfile
import time
import traceback
from collections.abc import Callable
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # for tests/support/fuzz_targets.py

from tests.support import fuzz_targets as ft

SEED = 20240611
SHOW_ESCAPES = 3


class Tally:
    def __init__(self, name: str) -> None:
        self.name = name
        self.ran = self.accepted = self.escaped = 0
        self.slowest_ms = 0.0
        self.examples: list[str] = []

    def run(self, fn: Callable[[], str], describe: Callable[[], Any]) -> None:
        start = time.perf_counter()
        try:
            if fn() == ft.ACCEPTED:
                self.accepted += 1
        except Exception as exc:
            self.escaped += 1
            if len(self.examples) < SHOW_ESCAPES:
                where = traceback.extract_tb(exc.__traceback__)[-1]
                self.examples.append(
                    f"{type(exc).__name__}: {str(exc)[:200]} at {where.filename}:{where.lineno}"
                    f" input={str(describe())[:300]}"
                )
        self.ran += 1
        self.slowest_ms = max(self.slowest_ms, (time.perf_counter() - start) * 1000)

    def report(self) -> dict[str, Any]:
        print(
            f"{self.name:14} ran {self.ran:>9,}  accepted {self.accepted:>8,}"
            f"  escaped {self.escaped:>5,}  slowest {self.slowest_ms:8.1f} ms",
            flush=True,
        )
        for example in self.examples:
            print(f"    escaped: {example}", flush=True)
        return {
            "ran": self.ran,
            "accepted": self.accepted,
            "escaped": self.escaped,
            "slowest_ms": round(self.slowest_ms, 1),
        }


def fuzz_adverts(rng: random.Random, n: int) -> Tally:
    tally, target = Tally("adverts"), ft.AdvertTarget()
    for _ in range(n):
        mfr, svc = ft.gen_advert(rng)
        tally.run(lambda m=mfr, s=svc: target(m, s), lambda m=mfr, s=svc: (m, s))
    return tally


def fuzz_handlers(rng: random.Random, n: int, folder: Path) -> list[Tally]:
    tallies = []

    def each(name: str, make: Callable[[], Any], run: Callable[[Any], str]) -> None:
        tally = Tally(name)
        for _ in range(n):
            item = make()
            tally.run(lambda i=item: run(i), lambda i=item: i)
        tallies.append(tally)
        tally.report()

    for kind in ft.KINDS:
        each(kind, lambda k=kind: ft.gen_payload(k, rng), lambda p, k=kind: ft.payload_target(k, p))
    inbox = ft.InboxTarget(folder / "inbox")
    try:
        each("mqtt_inbox", lambda: ft.gen_message(rng, inbox.topics), lambda m: inbox(*m))
    finally:
        inbox.close()
    each("manifest", lambda: ft.gen_manifest(rng), ft.manifest_target)
    assets = ft.AssetTarget(folder / "assets")
    each("asset", lambda: ft.gen_asset(rng), lambda a: assets(*a))
    each("config_table", lambda: ft.gen_config_table(rng), ft.config_table_target)
    path = folder / "edge.toml"
    each("config_file", lambda: ft.gen_config_text(rng), lambda t: ft.config_file_target(path, t))
    endpoint = ft.LanTarget()
    try:
        each("lan_request", lambda: ft.gen_lan_request(rng), endpoint)
    finally:
        endpoint.close()
    each("token", lambda: ft.gen_token(rng), ft.token_target)
    each("trace_line", lambda: ft.gen_trace_line(rng), ft.trace_target)
    nonces = ft.NonceTarget()
    each("nonce", lambda: ft.gen_nonce(rng, nonces), lambda a: nonces(*a))
    each("qr_url", lambda: ft.gen_qr(rng), lambda a: ft.qr_target(*a))
    each("pairing", lambda: ft.gen_pairing(rng), ft.pairing_target)
    return tallies


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--adverts", type=int, default=1_000_000)
    parser.add_argument("--per-handler", type=int, default=10_000)
    parser.add_argument("--seed", type=int, default=SEED)
    args = parser.parse_args()
    rng = random.Random(args.seed)
    logging.disable(logging.CRITICAL)  # rejections are logged by design; millions of them here
    started = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="omo-fuzz-") as tmp:
        handlers = fuzz_handlers(rng, args.per_handler, Path(tmp))
    adverts = fuzz_adverts(rng, args.adverts)
    advert_figures = adverts.report()
    figures = {t.name: _figures(t) for t in handlers}
    escaped = advert_figures["escaped"] + sum(f["escaped"] for f in figures.values())
    print(
        json.dumps(
            {
                "adverts": advert_figures["ran"],
                "adverts_escaped": advert_figures["escaped"],
                "adverts_visitor": advert_figures["accepted"],
                "handlers": figures,
                "escaped_total": escaped,
                "seed": args.seed,
                "seconds": round(time.perf_counter() - started, 1),
            }
        )
    )


def _figures(tally: Tally) -> dict[str, Any]:
    return {"ran": tally.ran, "accepted": tally.accepted, "escaped": tally.escaped}


if __name__ == "__main__":
    main()
