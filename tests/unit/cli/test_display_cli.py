"""`omo-edge display`: store staff override the panel's store hours on the device."""

from __future__ import annotations

import json
import time
from pathlib import Path

import pytest

from edge.cli import main
from edge.panel import override
from tests.support.config import write_config


def config(tmp_path: Path) -> Path:
    return write_config(
        tmp_path / "edge.toml",
        {
            "storage": {"path": str(tmp_path / "state" / "outbox.sqlite3")},
            "panel": {"timezone": "UTC", "hours": {"mon": "closed"}},  # closed all week
        },
    )


def test_off_for_a_while_then_auto(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    cfg = config(tmp_path)
    (tmp_path / "state").mkdir()
    assert main(["display", "--config", str(cfg)]) == 0
    assert capsys.readouterr().out.startswith("panel off by schedule; schedule: store hours")

    before = time.time()
    assert main(["display", "on", "--for", "2h", "--config", str(cfg)]) == 0
    out = capsys.readouterr()
    assert out.out.startswith("panel on by override until ")
    assert "the daemon follows within 2 s" in out.err
    written = json.loads(override.path(tmp_path / "state").read_text())
    assert written["power"] == "on"
    assert before + 7200 <= written["until_ms"] / 1000 <= time.time() + 7200

    assert main(["display", "auto", "--config", str(cfg)]) == 0
    assert capsys.readouterr().out.startswith("panel off by schedule")
    assert not override.path(tmp_path / "state").exists()


def test_a_bad_duration_is_refused_naming_the_flag(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit) as exit_:
        main(["display", "off", "--for", "soon", "--config", str(config(tmp_path))])
    assert exit_.value.code == 2
    assert "argument --for: give a duration such as 30d" in capsys.readouterr().err
    assert not override.path(tmp_path / "state").exists()
