"""The `omo-edge` command's diagnostics: scan and outbox status, as an operator runs them."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from tests.conftest import DEMO_TRACE


def omo(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "edge.cli", *args],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def test_scan_replay_json_prints_beacons_and_visits_per_adverts_md() -> None:
    out = omo("scan", "--replay", str(DEMO_TRACE), "--json")
    assert out.returncode == 0, out.stderr
    lines = [json.loads(line) for line in out.stdout.splitlines()]
    assert all("type" in line and "t" in line for line in lines)
    visits = [line for line in lines if line["type"].startswith("visit.")]
    enters = [v for v in visits if v["type"] == "visit.enter"]
    exits = [v for v in visits if v["type"] == "visit.exit"]
    assert enters and len(enters) == len(exits), "every visit that starts must end"
    for v in visits:
        assert v["zone"] in ("immediate", "near", "far") and v["visit_id"]
        assert v["visitor"].split(":")[0] in ("ibeacon", "eddystone-uid", "line", "altbeacon")
    assert {v["visit_id"] for v in enters} == {v["visit_id"] for v in exits}
    times = [line["t"] for line in lines]
    assert times == sorted(times), "scan output is not in trace time order"
    beacons = [line for line in lines if line["type"] == "beacon"]
    assert beacons and all(":" in b["beacon"] for b in beacons)
    assert lines[-1]["type"] == "counters" and lines[-1]["adverts"] > lines[-1]["beacons"]


def test_scan_reports_malformed_lines_with_their_number_and_goes_on(tmp_path: Path) -> None:
    lines = DEMO_TRACE.read_text().splitlines()
    trace = tmp_path / "t.jsonl"
    trace.write_text("\n".join([lines[0], "garbage", *lines[1:]]) + "\n")
    out = omo("scan", "--replay", str(trace), "--json", "--no-beacons")
    assert out.returncode == 0
    assert "line 2: not JSON" in out.stderr
    assert json.loads(out.stdout.splitlines()[-1])["malformed"] == 1
    assert '"visit.enter"' in out.stdout


def test_scan_of_a_missing_trace_is_a_plain_error(tmp_path: Path) -> None:
    out = omo("scan", "--replay", str(tmp_path / "nope.jsonl"))
    assert out.returncode == 2
    assert "does not exist" in out.stderr and "Traceback" not in out.stderr


def test_outbox_status_without_an_outbox_says_so(tmp_path: Path) -> None:
    cfg = tmp_path / "edge.toml"
    cfg.write_text(f'[storage]\npath = "{tmp_path / "none" / "outbox.sqlite3"}"\n')
    out = omo("outbox", "status", "--json", "--config", str(cfg))
    assert out.returncode == 2
    assert "no outbox at" in out.stderr and "storage.path" in out.stderr
