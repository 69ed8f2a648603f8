"""Signed updates: refused unless signed by the release key (through the real broker), staged
when they are; applied into real venvs, kept when healthy and rolled back when not."""

from __future__ import annotations

import base64
import hashlib
import json
import sys
import zipfile
from collections.abc import Callable
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

from edge.sim.central import CentralSim
from edge.update import running
from edge.update.apply import Plan, _run, apply
from edge.update.stage import MANIFEST, write_staged
from edge.update.verify import UpdateRefused, read_wheel, verify
from tests.conftest import DaemonProcess, wait_for

DEVICE = "omo/v1/store-1/screen-1"

HEALTHY = """
import json, os, sys, time
def main():
    state = sys.argv[1]
    body = {"version": "%(version)s", "pid": os.getpid(), "ts": time.time()}
    with open(os.path.join(state, "running.json"), "w") as f:
        json.dump(body, f)
"""
NEVER_HEALTHY = """
def main():
    pass  # starts, but never puts content on screen
"""


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b"=").decode()


def build_wheel(folder: Path, version: str, main_source: str, name: str = "omo-edge") -> Path:
    """A real wheel (the wheel spec: dist-info with METADATA, WHEEL, entry points, RECORD)."""
    dist = f"{name.replace('-', '_')}-{version}"
    files = {
        "omo_probe/__init__.py": (main_source % {"version": version}).encode(),
        f"{dist}.dist-info/METADATA": (
            f"Metadata-Version: 2.1\nName: {name}\nVersion: {version}\n"
        ).encode(),
        f"{dist}.dist-info/WHEEL": (
            b"Wheel-Version: 1.0\nGenerator: omo-edge-tests\nRoot-Is-Purelib: true\n"
            b"Tag: py3-none-any\n"
        ),
        f"{dist}.dist-info/entry_points.txt": b"[console_scripts]\nomo-edge = omo_probe:main\n",
    }
    record = [f"{path},sha256={_b64(data)},{len(data)}" for path, data in files.items()]
    record.append(f"{dist}.dist-info/RECORD,,")
    files[f"{dist}.dist-info/RECORD"] = ("\n".join(record) + "\n").encode()
    path = folder / f"{dist}-py3-none-any.whl"
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as zf:
        for member, data in files.items():
            zf.writestr(member, data)
    return path


def keypair() -> tuple[Ed25519PrivateKey, str]:
    key = Ed25519PrivateKey.generate()
    public = key.public_key().public_bytes(Encoding.Raw, PublicFormat.Raw)
    return key, base64.b64encode(public).decode()


def sign(key: Ed25519PrivateKey, data: bytes) -> str:
    return base64.b64encode(key.sign(hashlib.sha256(data).digest())).decode()


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


# -- staging through the real broker ----------------------------------------------------


@pytest.mark.slow
@pytest.mark.timeout(90)
def test_update_command_refuses_bad_signatures_and_stages_a_signed_wheel(
    tmp_path: Path,
    central: CentralSim,
    device_config: Callable[..., Path],
    daemon: Callable[..., DaemonProcess],
) -> None:
    release, public = keypair()
    impostor, _ = keypair()
    data = build_wheel(tmp_path, "2.0.0", HEALTHY).read_bytes()
    sha = hashlib.sha256(data).hexdigest()
    central.assets[sha] = data  # served on P/asset/get, like any content asset
    config = device_config(speed=0.001, update={"release_public_key": public})
    proc = daemon("run", "--config", str(config))
    update_dir = tmp_path / "state" / "update"
    # Content on screen (running.json, the apply step's health signal) and subscribed.
    assert wait_for(lambda: running.read(tmp_path / "state") is not None, 30), proc.stdout
    assert wait_for(lambda: "connected to broker" in proc.stdout, 30), proc.stdout

    def result(args: dict[str, object]) -> dict[str, object]:
        cmd_id = central.command(DEVICE, "update", args)
        assert wait_for(lambda: cmd_id in central.cmd_results, 30), proc.stdout
        return central.cmd_results[cmd_id]

    wrong = result({"sha256": sha, "sig": sign(impostor, data)})
    assert wrong["ok"] is False and "does not match the release key" in str(wrong["detail"])
    unsigned = result({"sha256": sha})
    assert unsigned["ok"] is False and "unsigned" in str(unsigned["detail"])
    file_url = result({"url": (tmp_path / "x.whl").as_uri(), "sig": sign(release, data)})
    assert file_url["ok"] is False and "file://" in str(file_url["detail"])
    assert not (update_dir / MANIFEST).exists() and not list(update_dir.glob("*.whl"))

    good = result({"sha256": sha, "sig": sign(release, data)})
    assert good["ok"] is True, good
    manifest = json.loads((update_dir / MANIFEST).read_text())
    assert manifest["version"] == "2.0.0" and manifest["sha256"] == sha
    assert (update_dir / manifest["wheel"]).read_bytes() == data
    assert proc.proc.poll() is None
    body = running.read(tmp_path / "state")
    assert body is not None and body["pid"] == proc.proc.pid


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
