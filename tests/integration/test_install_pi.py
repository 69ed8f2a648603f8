"""scripts/install-pi into a throwaway root: the same tree every run, config never
overwritten, the units it installs verify, and --uninstall takes it all away."""

from __future__ import annotations

import hashlib
import shutil
import stat
import subprocess
from pathlib import Path

import pytest

from tests.support.paths import ROOT
from tests.support.systemd import verify_units
from tests.support.wheels import HEALTHY, build_wheel

SCRIPT = ROOT / "scripts" / "install-pi"
pytestmark = pytest.mark.timeout(60)


def install(root: Path, *args: str) -> str:
    done = subprocess.run(
        [str(SCRIPT), "--root", str(root), *args],
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    return done.stdout


def tree(root: Path) -> dict[str, tuple[str, int, str]]:
    """Every path under `root`: kind, permission bits, and content hash or link target."""
    found: dict[str, tuple[str, int, str]] = {}
    for path in sorted(root.rglob("*")):
        st = path.lstat()
        if stat.S_ISLNK(st.st_mode):
            found[str(path.relative_to(root))] = ("link", 0, str(path.readlink()))
        elif path.is_dir():
            found[str(path.relative_to(root))] = ("dir", stat.S_IMODE(st.st_mode), "")
        else:
            digest = hashlib.sha256(path.read_bytes()).hexdigest()
            found[str(path.relative_to(root))] = ("file", stat.S_IMODE(st.st_mode), digest)
    return found


def test_install_twice_gives_the_same_tree_and_uninstall_removes_it(tmp_path: Path) -> None:
    wheel = build_wheel(tmp_path, "1.4.0", HEALTHY)
    root = tmp_path / "root"
    out = install(root, "--wheel", str(wheel))
    first = tree(root)
    for step in ("apt-get install", "useradd", "systemctl enable", "venv --system-site-packages"):
        assert any(line.startswith("skip (--root):") and step in line for line in out.splitlines())
    assert first["etc/systemd/system/omo-edge.service"][0] == "file"
    assert first["etc/omo-edge/edge.toml"][1] == 0o640
    assert first["var/lib/omo-edge"] == ("dir", 0o700, "")
    assert first["opt/omo-edge/wheels/omo_edge-1.4.0-py3-none-any.whl"][0] == "file"
    assert "SystemMaxUse=" in (root / "etc/systemd/journald.conf.d/omo-edge.conf").read_text()
    assert not (root / "etc/systemd/system/bluetooth.service.d").exists()  # active scanning

    again = install(root, "--wheel", str(wheel))
    assert tree(root) == first
    assert "wrote" not in again  # nothing needed writing the second time

    install(root, "--uninstall")
    left = set(tree(root))
    assert left == {"etc", "etc/omo-edge", "etc/omo-edge/edge.toml", "var", "var/lib"} | {
        "var/lib/omo-edge"
    }, "uninstall keeps only the config and the state"
    install(root, "--uninstall", "--purge")
    assert tree(root) == {}


def test_config_is_never_overwritten_and_passive_scanning_gets_experimental_bluez(
    tmp_path: Path,
) -> None:
    root = tmp_path / "root"
    install(root)
    config = root / "etc/omo-edge/edge.toml"
    text = config.read_text().replace('scanning_mode = "active"', 'scanning_mode = "passive"')
    config.write_text(text)
    install(root)
    assert config.read_text() == text
    dropin = root / "etc/systemd/system/bluetooth.service.d/omo-edge-experimental.conf"
    assert "--experimental" in dropin.read_text()
    config.write_text(text.replace('"passive"', '"active"'))
    install(root)
    assert not dropin.exists()


@pytest.mark.skipif(shutil.which("systemd-analyze") is None, reason="no systemd-analyze")
def test_installed_units_verify(tmp_path: Path) -> None:
    root = tmp_path / "root"
    install(root)
    units = sorted((root / "etc/systemd/system").glob("omo-edge*"))
    assert len(units) == 3
    verified = tmp_path / "verified"
    verified.mkdir()
    assert not verify_units(verified, units)
