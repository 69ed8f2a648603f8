"""The `omo-edge` command as an operator runs it: diagnostics, bad input refused in plain
words before anything starts, quiet exits on a closed pipe, and the demo's screen."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pygame
import pytest

from edge.ids import new_id
from edge.outbox.store import Outbox
from tests.support.cli import omo_edge
from tests.support.config import write_config
from tests.support.paths import DEMO_TRACE

KINDS = ("ibeacon", "eddystone-uid", "line", "altbeacon")


def test_scan_replay_json_prints_beacons_and_visits_per_adverts_md() -> None:
    out = omo_edge("scan", "--replay", str(DEMO_TRACE), "--json")
    assert out.returncode == 0, out.stderr
    lines = [json.loads(line) for line in out.stdout.splitlines()]
    assert all("type" in line and "t" in line for line in lines)
    visits = [line for line in lines if line["type"].startswith("visit.")]
    enters = [v for v in visits if v["type"] == "visit.enter"]
    exits = [v for v in visits if v["type"] == "visit.exit"]
    assert enters and len(enters) == len(exits), "every visit that starts must end"
    for v in visits:
        assert v["zone"] in ("immediate", "near", "far") and v["visit_id"]
        assert v["visitor"].split(":")[0] in KINDS
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
    out = omo_edge("scan", "--replay", str(trace), "--json", "--no-beacons")
    assert out.returncode == 0
    assert "line 2: not JSON" in out.stderr
    assert json.loads(out.stdout.splitlines()[-1])["malformed"] == 1
    assert '"visit.enter"' in out.stdout


def test_scan_of_a_missing_trace_is_a_plain_error(tmp_path: Path) -> None:
    out = omo_edge("scan", "--replay", str(tmp_path / "nope.jsonl"))
    assert out.returncode == 2
    assert "does not exist" in out.stderr and "Traceback" not in out.stderr
    folder = omo_edge("scan", "--replay", str(tmp_path))  # the folder, not the file in it
    assert folder.returncode == 2
    assert f"trace file {tmp_path} is a folder: give the .jsonl file in it" in folder.stderr


def test_outbox_status_without_an_outbox_says_so(tmp_path: Path) -> None:
    cfg = tmp_path / "edge.toml"
    cfg.write_text(f'[storage]\npath = "{tmp_path / "none" / "outbox.sqlite3"}"\n')
    out = omo_edge("outbox", "status", "--json", "--config", str(cfg))
    assert out.returncode == 2
    assert "no outbox at" in out.stderr and "storage.path" in out.stderr


# -- numbers that make no sense are refused before anything starts ------------------------
@pytest.mark.parametrize(
    ("args", "flag"),
    [
        (["run", "--duration", "-5"], "--duration"),
        (["run", "--duration", "0"], "--duration"),
        (["demo", "--duration", "0"], "--duration"),
        (["demo", "--speed", "-1"], "--speed"),
        (["demo", "--speed", "fast"], "--speed"),
        (["scan", "--seconds", "0"], "--seconds"),
        (["scan", "--seconds", "nan"], "--seconds"),
        (["outbox", "drain", "--connect-timeout", "-1"], "--connect-timeout"),
    ],
)
def test_a_number_that_makes_no_sense_is_refused_naming_the_flag(
    tmp_path: Path, args: list[str], flag: str
) -> None:
    state = tmp_path / "state"
    config = write_config(tmp_path / "edge.toml", {"storage": {"path": f"{state}/outbox.sqlite3"}})
    out = omo_edge(*args, "--config", str(config)) if args[0] != "demo" else omo_edge(*args)
    assert out.returncode == 2, out.stderr
    assert f"argument {flag}: give a number above 0, not '{args[-1]}'" in out.stderr
    assert "Traceback" not in out.stderr
    assert not state.exists(), "something started before the flag was checked"


def test_demo_with_a_missing_trace_is_a_plain_error(tmp_path: Path) -> None:
    out = omo_edge("demo", "--headless", "--trace", str(tmp_path / "nope.jsonl"))
    assert out.returncode == 2
    assert out.stderr.strip() == f"omo-edge: trace file {tmp_path / 'nope.jsonl'} does not exist"
    assert out.stdout == ""  # no broker, no simulator started


# -- a closed pipe (`| head`) ends a command quietly -------------------------------------
def first_lines_then_close(args: list[str], count: int) -> tuple[list[str], int, str]:
    """`omo-edge ARGS | head -COUNT`: what head saw, omo-edge's exit code and stderr."""
    proc = subprocess.Popen(
        [sys.executable, "-m", "edge.cli", *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    assert proc.stdout is not None
    seen = [proc.stdout.readline() for _ in range(count)]
    proc.stdout.close()
    _, err = proc.communicate(timeout=60)
    return seen, proc.returncode, err


@pytest.mark.parametrize("mode", [[], ["--json"]], ids=["text", "json"])
def test_scan_piped_to_head_exits_quietly(mode: list[str]) -> None:
    seen, code, err = first_lines_then_close(["scan", "--replay", str(DEMO_TRACE), *mode], 2)
    assert all(line.endswith("\n") for line in seen)
    assert code == 141  # 128 + SIGPIPE, as a shell reports `cat | head`
    assert err == "", err


def test_outbox_export_piped_to_head_exits_quietly(tmp_path: Path) -> None:
    outbox = tmp_path / "state" / "outbox.sqlite3"
    config = write_config(tmp_path / "edge.toml", {"storage": {"path": str(outbox)}})
    with Outbox(outbox) as box:
        box.append(
            [
                {"id": new_id(), "type": "visit.enter", "ts": 1_700_000_000_000, "pad": "x" * 200}
                for _ in range(2000)
            ]
        )
    seen, code, err = first_lines_then_close(["outbox", "export", "-", "--config", str(config)], 1)
    assert json.loads(seen[0])["type"] == "visit.enter"
    assert code == 141
    assert "Traceback" not in err and "BrokenPipe" not in err, err


# -- scan in text mode --------------------------------------------------------------------
def test_scan_text_mode_prints_a_line_per_beacon_and_ends_with_a_json_summary() -> None:
    out = omo_edge("scan", "--replay", str(DEMO_TRACE))
    assert out.returncode == 0, out.stderr
    lines = out.stdout.splitlines()
    beacons = [ln.split() for ln in lines if ln.split()[1] == "beacon"]
    assert beacons and all(b[2].split(":")[0] in KINDS for b in beacons)
    assert all(b[4] == "dBm" and int(b[3]) < 0 for b in beacons)
    summary = json.loads(lines[-1])
    assert summary["type"] == "counters" and summary["beacons"] == len(beacons)

    quiet = omo_edge("scan", "--replay", str(DEMO_TRACE), "--no-beacons")
    quiet_lines = quiet.stdout.splitlines()
    assert not [ln for ln in quiet_lines if ln.split()[1] == "beacon"]
    assert "visit.enter" in quiet.stdout
    assert json.loads(quiet_lines[-1]) == summary


# -- the demo fills the screen unless asked for a window ---------------------------------
@pytest.mark.slow
@pytest.mark.parametrize(
    ("extra", "size"), [([], (1024, 768)), (["--window"], (1280, 720))], ids=["full", "window"]
)
def test_demo_is_full_screen_unless_window_is_given(
    tmp_path: Path, extra: list[str], size: tuple[int, int]
) -> None:
    """SDL's offscreen driver stands in for a display whose whole screen is 1024x768."""
    shots = tmp_path / "shots"
    args = ["demo", *extra, "--duration", "2", "--speed", "20", "--screenshots", str(shots)]
    out = subprocess.run(
        [sys.executable, "-m", "edge.cli", *args],
        env={**os.environ, "DISPLAY": ":99", "SDL_VIDEODRIVER": "offscreen"},
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert out.returncode == 0, out.stderr
    first = min(shots.glob("*.png"))
    assert pygame.image.load(str(first)).get_size() == size
