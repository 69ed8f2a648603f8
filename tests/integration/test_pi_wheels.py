"""`scripts/check-pi-wheels`: install-pi never compiles on a Pi, because every runtime
dependency has a wheel for aarch64 / CPython 3.11.

The check asks the package index (PyPI's JSON API) for the file names of each pinned
release: a few seconds. It runs whenever the index answers within a short timeout and
is skipped, with the reason, when it does not (an offline machine or CI). Which wheel the
Pi's pip would take is pure logic, tested here without any network."""

from __future__ import annotations

import importlib.machinery
import importlib.util
import subprocess
import sys
import urllib.error
import urllib.request
from pathlib import Path
from types import ModuleType

import pytest

ROOT = Path(__file__).resolve().parents[2]
SCRIPT = ROOT / "scripts" / "check-pi-wheels"
PROBE = "https://pypi.org/pypi/msgspec/json"
PROBE_TIMEOUT_S = 3.0

pytestmark = [pytest.mark.timeout(120)]


def load_script() -> ModuleType:
    loader = importlib.machinery.SourceFileLoader("check_pi_wheels", str(SCRIPT))
    spec = importlib.util.spec_from_loader("check_pi_wheels", loader)
    assert spec is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules.setdefault(spec.name, module)  # its dataclasses look themselves up there
    loader.exec_module(sys.modules[spec.name])
    return sys.modules[spec.name]


@pytest.fixture(scope="module")
def index_reachable() -> None:
    """Skip (saying why) unless PyPI answers within a few seconds."""
    try:
        with urllib.request.urlopen(PROBE, timeout=PROBE_TIMEOUT_S) as response:
            response.read(1)
    except (urllib.error.URLError, TimeoutError, OSError) as exc:
        pytest.skip(f"the package index cannot be reached ({PROBE}: {exc}); not checked")


def run_check(*args: str) -> subprocess.CompletedProcess[str]:
    done = subprocess.run(
        [sys.executable, str(SCRIPT), "--timeout", "10", *args],
        capture_output=True,
        text=True,
        timeout=100,
        check=False,
    )
    if done.returncode == 2:
        pytest.skip(f"the package index stopped answering: {done.stderr.strip()}")
    return done


@pytest.mark.usefixtures("index_reachable")
def test_every_runtime_dependency_has_a_pi_wheel() -> None:
    done = run_check()
    assert done.returncode == 0, done.stderr
    assert "nothing to compile" in done.stdout
    lines = done.stdout.splitlines()
    for name in ("msgspec", "cryptography", "av", "paho-mqtt", "cffi"):  # cffi: a dependency's
        wheel = next((line for line in lines if line.lower().startswith(f"{name} ")), None)
        assert wheel is not None, done.stdout
        assert wheel.endswith(".whl") and ("aarch64" in wheel or "-none-any" in wheel), wheel
    assert not any(line.lower().startswith("pygame ") for line in lines)  # from apt


@pytest.mark.usefixtures("index_reachable")
def test_a_requirement_without_a_pi_wheel_is_named_in_plain_words(tmp_path: Path) -> None:
    pins = tmp_path / "requirements.txt"
    pins.write_text("paho-mqtt==1.6.1  # only a source archive\nmsgspec==0.0.0\nsegno==1.6.1\n")
    done = run_check("--requirements", str(pins))
    assert done.returncode == 1
    assert "paho-mqtt 1.6.1 has no wheel for aarch64 / CPython 3.11" in done.stderr
    assert "only a source archive" in done.stderr
    assert "msgspec 0.0.0 is not on the index" in done.stderr
    assert "segno 1.6.1: segno-1.6.1-py3-none-any.whl" in done.stdout  # the good one passes


@pytest.mark.parametrize(
    ("filename", "takes"),
    [
        ("msgspec-0.23.0-cp311-cp311-manylinux2014_aarch64.manylinux_2_17_aarch64.whl", True),
        ("cryptography-50.0.2-cp39-abi3-manylinux_2_34_aarch64.whl", True),
        ("segno-1.6.1-py3-none-any.whl", True),
        ("msgspec-0.23.0-cp311-cp311-manylinux_2_17_x86_64.whl", False),
        ("msgspec-0.23.0-cp312-cp312-manylinux_2_17_aarch64.whl", False),
        ("numpy-9.0-cp311-cp311-manylinux_2_39_aarch64.whl", False),  # newer glibc than 2.36
        ("numpy-9.0-cp311-cp311-musllinux_1_2_aarch64.whl", False),
        ("numpy-9.0-cp311-cp311-linux_armv7l.whl", False),  # 32-bit Raspberry Pi OS
        ("numpy-9.0.tar.gz", False),
    ],
)
def test_the_wheel_the_pis_pip_would_take(filename: str, takes: bool) -> None:
    script = load_script()
    assert (script.wheel_for_pi([filename], script.pi_tags()) == filename) is takes
