"""Privileged side of an update (omo-edge-update.service): install, switch, check, roll back.

    python -m edge.update.apply --config /etc/omo-edge/edge.toml --healthy-within 120

1. Read the staged manifest and wheel; verify the signature again (the daemon that
   staged them is not trusted with root's decisions).
2. Install the wheel into a new venv, PREFIX/versions/<version>.
3. Point PREFIX/current at it (a symlink replaced atomically) and restart omo-edge.
4. Keep it only if running.json in the state dir names the new version within N
   seconds; otherwise point `current` back, restart again and record the rollback.
The staged files are removed whatever happens (so the path unit does not fire again)
and the outcome is written to state_dir/update/last.json.

Creating the venv and restarting the service are command templates, so a test can
run the whole thing in a temporary directory with real venvs and no systemd.
"""

from __future__ import annotations

import argparse
import json
import logging
import shlex
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from edge.files import write_atomic
from edge.update import running
from edge.update.stage import MANIFEST
from edge.update.verify import UpdateRefused, Wheel, verify

log = logging.getLogger("edge.update")

DEFAULT_INSTALL = (
    "/usr/bin/python3 -m venv --system-site-packages {venv}",
    "{venv}/bin/pip install --no-cache-dir --disable-pip-version-check {wheel}",
)
DEFAULT_RESTART = "systemctl restart omo-edge.service"
KEEP_VERSIONS = 2  # the one running and the one before it


def _run(argv: list[str]) -> None:
    done = subprocess.run(argv, capture_output=True, text=True, check=False, timeout=900)
    if done.returncode != 0:
        tail = (done.stderr or done.stdout).strip().splitlines()[-3:]
        raise RuntimeError(f"{argv[0]} exited with {done.returncode}: {' / '.join(tail)}")


@dataclass
class Plan:
    prefix: Path
    state_dir: Path
    public_key: str
    healthy_within_s: float = 120.0
    install: Sequence[str] = DEFAULT_INSTALL
    restart: str = DEFAULT_RESTART
    poll_s: float = 0.5
    run: Callable[[list[str]], None] = field(default=_run)

    @property
    def update_dir(self) -> Path:
        return self.state_dir / "update"

    @property
    def current(self) -> Path:
        return self.prefix / "current"


def _expand(template: str, plan: Plan, **values: Path) -> list[str]:
    names = {"prefix": plan.prefix, "state_dir": plan.state_dir, "current": plan.current, **values}
    return [part.format(**{k: str(v) for k, v in names.items()}) for part in shlex.split(template)]


def switch(current: Path, target: Path) -> None:
    """Point `current` at `target` (relative to its folder) in one rename."""
    temp = current.with_name(f".{current.name}.new")
    temp.unlink(missing_ok=True)
    temp.symlink_to(target.relative_to(current.parent) if target.is_absolute() else target)
    temp.replace(current)


def prune(versions: Path, keep: set[Path]) -> None:
    dirs = sorted((d for d in versions.iterdir() if d.is_dir()), key=lambda d: d.stat().st_mtime)
    for old in dirs[: max(0, len(dirs) - KEEP_VERSIONS)]:
        if old.resolve() not in keep:
            shutil.rmtree(old, ignore_errors=True)


def wait_healthy(plan: Plan, version: str, since: float) -> bool:
    deadline = time.monotonic() + plan.healthy_within_s
    while time.monotonic() < deadline:
        if running.healthy(running.read(plan.state_dir), version, since):
            return True
        time.sleep(plan.poll_s)
    return running.healthy(running.read(plan.state_dir), version, since)


def _record(plan: Plan, outcome: dict[str, object]) -> None:
    outcome = {**outcome, "ts": time.time()}
    write_atomic(plan.update_dir / "last.json", json.dumps(outcome).encode(), mode=0o644)
    level = logging.INFO if outcome["result"] == "installed" else logging.ERROR
    log.log(level, "update %s: %s", outcome["result"], outcome.get("detail", ""))


def _clear_staged(plan: Plan) -> None:
    """Remove the staged manifest and wheel, so the path unit does not start us again."""
    (plan.update_dir / MANIFEST).unlink(missing_ok=True)
    for wheel in plan.update_dir.glob("*.whl"):
        wheel.unlink(missing_ok=True)


def load_staged(plan: Plan) -> tuple[bytes, Wheel]:
    """The staged wheel's bytes, verified here (by root) against the release key."""
    manifest = json.loads((plan.update_dir / MANIFEST).read_text())
    if not isinstance(manifest, dict):
        raise UpdateRefused("the staged manifest is not a JSON object")
    name = manifest.get("wheel")
    if not isinstance(name, str) or "/" in name or not name.endswith(".whl"):
        raise UpdateRefused("the staged manifest names no wheel file")
    data = (plan.update_dir / name).read_bytes()
    wheel = verify(data, manifest.get("sig"), plan.public_key)
    if wheel.filename != name:
        raise UpdateRefused(f"the staged wheel is {wheel.filename}, not {name}")
    return data, wheel


def apply(plan: Plan) -> str:
    """Apply the staged update; returns the outcome ("installed", "rolled back", ...)."""
    try:
        data, wheel = load_staged(plan)
    except (OSError, ValueError, UpdateRefused) as exc:
        _record(plan, {"result": "refused", "detail": f"staged update not usable: {exc}"})
        _clear_staged(plan)
        return "refused"
    # pip installs the very bytes verified above, from a folder only root can write:
    # the daemon's user owns the staging folder and could swap the file in between.
    try:
        with tempfile.TemporaryDirectory(prefix="omo-update-") as private:
            wheel_path = Path(private) / wheel.filename
            write_atomic(wheel_path, data)
            return _install_and_check(plan, wheel_path, wheel)
    finally:
        _clear_staged(plan)


def _install_and_check(plan: Plan, wheel_path: Path, wheel: Wheel) -> str:
    versions = plan.prefix / "versions"
    target = versions / wheel.version
    previous = plan.current.resolve() if plan.current.is_symlink() else None
    if previous is not None and previous == target.resolve():
        _record(
            plan, {"result": "unchanged", "version": wheel.version, "detail": "already current"}
        )
        return "unchanged"
    shutil.rmtree(target, ignore_errors=True)  # a half-made venv from an earlier attempt
    versions.mkdir(parents=True, exist_ok=True)
    try:
        for step in plan.install:
            plan.run(_expand(step, plan, venv=target, wheel=wheel_path))
    except (OSError, RuntimeError, subprocess.TimeoutExpired) as exc:
        shutil.rmtree(target, ignore_errors=True)
        _record(plan, {"result": "failed", "version": wheel.version, "detail": f"install: {exc}"})
        return "failed"
    since = time.time()
    switch(plan.current, target)
    log.info("update %s installed; restarting omo-edge on it", wheel.version)
    restarted = _restart(plan)
    if restarted and wait_healthy(plan, wheel.version, since):
        prune(versions, {target.resolve()} | ({previous} if previous else set()))
        _record(plan, {"result": "installed", "version": wheel.version, "detail": "healthy"})
        return "installed"
    why = (
        "the restart failed"
        if not restarted
        else f"it did not report healthy within {plan.healthy_within_s:g} s"
    )
    if previous is None:
        _record(plan, {"result": "failed", "version": wheel.version, "detail": why})
        return "failed"
    switch(plan.current, previous)
    _restart(plan)
    shutil.rmtree(target, ignore_errors=True)
    _record(
        plan,
        {
            "result": "rolled back",
            "version": wheel.version,
            "previous": previous.name,
            "detail": f"{wheel.version} rolled back to {previous.name}: {why}",
        },
    )
    return "rolled back"


def _restart(plan: Plan) -> bool:
    try:
        plan.run(_expand(plan.restart, plan))
    except (OSError, RuntimeError, subprocess.TimeoutExpired) as exc:
        log.error("restart failed: %s", exc)
        return False
    return True


def main(argv: list[str] | None = None) -> int:
    from edge import config as config_mod
    from edge import logs

    parser = argparse.ArgumentParser(prog="python -m edge.update.apply", description=__doc__)
    parser.add_argument("--config", type=Path, default=None)
    parser.add_argument("--prefix", type=Path, default=Path("/opt/omo-edge"))
    parser.add_argument("--state-dir", type=Path, default=None, help="default: from the config")
    parser.add_argument("--healthy-within", type=float, default=120.0, metavar="SECONDS")
    parser.add_argument(
        "--install-cmd",
        action="append",
        default=None,
        metavar="TEMPLATE",
        help="replaces the venv + pip steps; {venv} {wheel} {prefix} {state_dir} {current}",
    )
    parser.add_argument("--restart-cmd", default=DEFAULT_RESTART, metavar="TEMPLATE")
    args = parser.parse_args(argv)
    logs.setup("info")
    cfg = config_mod.load(args.config)
    plan = Plan(
        prefix=args.prefix,
        state_dir=args.state_dir or cfg.state_dir,
        public_key=str(cfg.update.release_public_key),
        healthy_within_s=args.healthy_within,
        install=tuple(args.install_cmd or DEFAULT_INSTALL),
        restart=args.restart_cmd,
    )
    if not (plan.update_dir / MANIFEST).exists():
        log.info("no staged update in %s", plan.update_dir)
        return 0
    outcome = apply(plan)
    return 0 if outcome in ("installed", "unchanged") else 1


if __name__ == "__main__":
    sys.exit(main())
