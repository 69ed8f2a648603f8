"""`scripts/check-pi-wheels`: install-pi never compiles on a Pi, because every runtime
dependency has an aarch64 wheel for CPython 3.11.

It asks the package index (pip's configured one), so it runs only when asked:
OMO_CHECK_PI_WHEELS=1 (tests otherwise talk to 127.0.0.1 only); an index that cannot be
reached skips it with that reason."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]

pytestmark = [
    pytest.mark.timeout(600),
    pytest.mark.skipif(
        os.environ.get("OMO_CHECK_PI_WHEELS") != "1",
        reason="asks the package index: run with OMO_CHECK_PI_WHEELS=1",
    ),
]


def test_every_runtime_dependency_has_a_pi_wheel() -> None:
    done = subprocess.run(
        [sys.executable, str(ROOT / "scripts" / "check-pi-wheels")],
        capture_output=True,
        text=True,
        timeout=580,
        check=False,
    )
    if done.returncode == 2:
        pytest.skip(f"the package index cannot be reached: {done.stderr.strip()}")
    assert done.returncode == 0, done.stderr
    assert "nothing to compile" in done.stdout
    for name in ("msgspec", "cryptography", "av", "paho-mqtt"):
        assert f"\n{name} " in "\n" + done.stdout, done.stdout
