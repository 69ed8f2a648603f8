"""Signed updates: only the release key's signature of our own wheel is accepted; applied
into real venvs, kept when healthy and rolled back when not. (The `update` command through
the real broker is in tests/integration/test_update_command.py.)"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from edge.update import running
from edge.update.apply import Plan, _run, apply
from edge.update.stage import MANIFEST, write_staged
from edge.update.verify import UpdateRefused, read_wheel, verify
from tests.support.wheels import HEALTHY, NEVER_HEALTHY, build_wheel, keypair, sign

# -- verify: pure ----------------------------------------------------------------------


def test_only_the_release_keys_signature_of_our_own_wheel_is_accepted(tmp_path: Path) -> None:
    release, public = keypair()
    other, _ = keypair()
    data = build_wheel(tmp_path, "1.2.3", HEALTHY).read_bytes()
    wheel = verify(data, sign(release, data), public)
    assert (wheel.name, wheel.version) == ("omo-edge", "1.2.3")
    assert wheel.filename == "omo_edge-1.2.3-py3-none-any.whl"
    refusals = {
        "another key": (data, sign(other, data), public),
        "unsigned": (data, None, public),
        "no release key": (data, sign(release, data), ""),
        "tampered": (data + b"\0", sign(release, data), public),
        "not base64": (data, "%%%", public),
    }
    for case, args in refusals.items():
        with pytest.raises(UpdateRefused):
            verify(*args)
            pytest.fail(case)
    foreign = build_wheel(tmp_path, "1.0", HEALTHY, name="not-omo").read_bytes()
    with pytest.raises(UpdateRefused, match="not-omo"):
        verify(foreign, sign(release, foreign), public)
    with pytest.raises(UpdateRefused, match="not a wheel"):
        read_wheel(b"PK not really")


# -- applying: real venvs, a restart command, rollback -------------------------------


def plan_for(root: Path, public: str) -> Plan:
    py = sys.executable
    return Plan(
        prefix=root / "opt",
        state_dir=root / "state",
        public_key=public,
        healthy_within_s=3.0,
        poll_s=0.1,
        install=(
            f"{py} -m venv --without-pip {{venv}}",
            f"{py} -m pip --python {{venv}}/bin/python install --no-index --no-deps "
            "--disable-pip-version-check --quiet {wheel}",
        ),
        # "Restarting" runs the version `current` points at; a healthy one writes running.json.
        restart="{current}/bin/omo-edge {state_dir}",
    )


def stage(plan: Plan, key: Ed25519PrivateKey, folder: Path, version: str, source: str) -> None:
    data = build_wheel(folder, version, source).read_bytes()
    write_staged(plan.update_dir, data, read_wheel(data), sign(key, data))


def last(plan: Plan) -> dict[str, object]:
    result: dict[str, object] = json.loads((plan.update_dir / "last.json").read_text())
    return result


@pytest.mark.slow
@pytest.mark.timeout(180)
def test_apply_keeps_a_healthy_version_and_rolls_back_one_that_never_reports(
    tmp_path: Path,
) -> None:
    key, public = keypair()
    plan = plan_for(tmp_path, public)
    wheels = tmp_path / "wheels"
    wheels.mkdir()

    stage(plan, key, wheels, "1.0.0", HEALTHY)
    assert apply(plan) == "installed"
    assert plan.current.resolve() == (plan.prefix / "versions" / "1.0.0").resolve()
    assert not (plan.update_dir / MANIFEST).exists()  # the path unit will not fire again

    stage(plan, key, wheels, "2.0.0", NEVER_HEALTHY)
    assert apply(plan) == "rolled back"
    assert plan.current.resolve() == (plan.prefix / "versions" / "1.0.0").resolve()
    outcome = last(plan)
    assert outcome["result"] == "rolled back" and outcome["version"] == "2.0.0"
    assert "did not report healthy" in str(outcome["detail"])
    assert not (plan.prefix / "versions" / "2.0.0").exists()
    assert running.read(plan.state_dir) is not None
    assert running.read(plan.state_dir)["version"] == "1.0.0"  # type: ignore[index]

    stage(plan, key, wheels, "3.0.0", HEALTHY)
    assert apply(plan) == "installed"
    assert plan.current.resolve() == (plan.prefix / "versions" / "3.0.0").resolve()
    assert last(plan)["result"] == "installed"
    assert sorted(p.name for p in (plan.prefix / "versions").iterdir()) == ["1.0.0", "3.0.0"]


def test_apply_verifies_again_and_refuses_a_wheel_swapped_after_staging(tmp_path: Path) -> None:
    key, public = keypair()
    plan = plan_for(tmp_path, public)
    wheels = tmp_path / "wheels"
    wheels.mkdir()
    stage(plan, key, wheels, "1.0.0", HEALTHY)
    staged = plan.update_dir / "omo_edge-1.0.0-py3-none-any.whl"
    staged.write_bytes(build_wheel(tmp_path, "1.0.0", NEVER_HEALTHY).read_bytes())
    assert apply(plan) == "refused"
    assert "does not match" in str(last(plan)["detail"])
    assert not plan.current.exists() and not (plan.prefix / "versions").exists()
    assert not (plan.update_dir / MANIFEST).exists() and not staged.exists()


def test_apply_installs_the_bytes_it_verified_even_if_the_staged_file_changes_meanwhile(
    tmp_path: Path,
) -> None:
    """The staging folder belongs to the daemon's user: a file swapped between root's
    check and pip's read must not be what gets installed (pip reads a private copy)."""
    key, public = keypair()
    plan = plan_for(tmp_path, public)
    wheels = tmp_path / "wheels"
    wheels.mkdir()
    stage(plan, key, wheels, "1.0.0", HEALTHY)
    staged = plan.update_dir / "omo_edge-1.0.0-py3-none-any.whl"
    signed = staged.read_bytes()
    evil = build_wheel(tmp_path, "1.0.0", NEVER_HEALTHY).read_bytes()
    installed_from: list[bytes] = []

    def swap_then_run(argv: list[str]) -> None:
        if staged.exists():
            staged.write_bytes(evil)  # the daemon's user strikes after verification
        wheel_args = [a for a in argv if a.endswith(".whl")]
        installed_from.extend(Path(a).read_bytes() for a in wheel_args)
        _run(argv)

    plan.run = swap_then_run
    assert apply(plan) == "installed"
    assert installed_from == [signed]
