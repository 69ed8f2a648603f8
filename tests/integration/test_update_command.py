"""The `update` command through the real broker: refused unless signed by the release key,
staged when it is. (Verifying and applying are in tests/unit/update/test_update.py.)"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable
from pathlib import Path

import pytest

from edge.sim.central import CentralSim
from edge.update import running
from edge.update.stage import MANIFEST
from tests.support.daemon import DaemonProcess
from tests.support.wait import wait_for
from tests.support.wheels import HEALTHY, build_wheel, keypair, sign

DEVICE = "omo/v1/store-1/screen-1"


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
