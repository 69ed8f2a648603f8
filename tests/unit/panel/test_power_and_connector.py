"""The panel's adapters against a fake `cec-ctl` and a fake DRM sysfs tree."""

from __future__ import annotations

from pathlib import Path

import pytest

from edge.doctor.panel import connector_verdict, power_verdict
from edge.panel.connector import connection, read_connectors
from edge.panel.power import CecPower, DpmsPower, PowerError, detect
from tests.support.panel import CONNECTOR, FakeCec, FakeDrm


def test_cec_standby_and_wake_talk_to_the_tv(tmp_path: Path) -> None:
    cec = FakeCec(tmp_path)
    power = CecPower(str(cec.program), str(cec.device))
    power.standby()
    power.wake()
    calls = cec.calls()
    assert calls[0] == f"-d {cec.device} --playback --osd-name omo-edge"  # once, first
    assert calls[1:] == [
        f"-d {cec.device} --to 0 --standby",
        f"-d {cec.device} --to 0 --image-view-on",
    ]


def test_a_cec_failure_says_why(tmp_path: Path) -> None:
    cec = FakeCec(tmp_path, fail_standby=True)
    with pytest.raises(PowerError, match="no acknowledgement"):
        CecPower(str(cec.program), str(cec.device)).standby()


def test_auto_picks_cec_when_the_tv_answers_else_dpms_else_none(tmp_path: Path) -> None:
    cec = FakeCec(tmp_path / "cec")
    fb = tmp_path / "fb0"
    assert detect("auto", str(cec.program), str(cec.device), str(fb)).method == "cec"
    missing = str(tmp_path / "no-cec0")
    assert detect("auto", str(cec.program), missing, str(fb)).method == "none"
    fb.touch()
    assert detect("auto", str(cec.program), missing, str(fb)).method == "dpms"
    assert detect("auto", str(tmp_path / "no-cec-ctl"), str(cec.device), str(fb)).method == "dpms"


def test_dpms_on_a_file_that_is_no_framebuffer_fails_plainly(tmp_path: Path) -> None:
    fake = tmp_path / "fb0"
    fake.touch()
    with pytest.raises(PowerError, match="FBIOBLANK"):
        DpmsPower(str(fake)).standby()
    with pytest.raises(PowerError, match="No such file"):
        DpmsPower(str(tmp_path / "none")).wake()


def test_connectors_are_read_from_the_sysfs_tree(tmp_path: Path) -> None:
    drm = FakeDrm(tmp_path / "sys")
    found = read_connectors(drm.root)
    assert found == {CONNECTOR: "connected", "card0-Writeback-1": "unknown"}
    assert connection(found) == "connected"
    drm.plug(False)
    assert connection(read_connectors(drm.root)) == "disconnected"  # writeback: unknown
    assert connection({"card0-Writeback-1": "unknown"}) == "unknown"
    assert connection(read_connectors(tmp_path / "no-sys")) == "unknown"


def test_doctor_says_the_method_and_the_connector() -> None:
    assert power_verdict("cec", "auto", False).line().startswith("OK    panel      standby")
    assert "HDMI-CEC" in power_verdict("cec", "auto", False).found
    warn = power_verdict("none", "auto", False)
    assert warn.status == "WARN" and "backlight on" in warn.found
    assert power_verdict("none", "auto", True).status == "OK"  # always on: no matter
    assert connector_verdict({CONNECTOR: "disconnected"}).status == "WARN"
    assert connector_verdict({CONNECTOR: "connected"}).status == "OK"
