"""`omo-edge display on|off|auto [--for 2h]`: store staff override the panel's store hours.

Written to the state dir's override file, which the running daemon reads within
`[panel] check_s` (and a daemon started later reads at start). `auto` goes back to the
schedule. Without arguments: what the panel does now and why.
"""

from __future__ import annotations

import argparse
import sys
import time

from edge.cli.common import Subcommands, add_config


def _duration(text: str) -> float:
    from edge.ops.cli.shared import duration_s

    return duration_s(text)


def cmd_display(args: argparse.Namespace) -> int:
    from edge import config as config_mod
    from edge.errors import EdgeError
    from edge.panel import override
    from edge.panel.schedule import Override, Schedule, plan

    cfg = config_mod.load(args.config)
    p = cfg.panel
    now_ms = int(time.time() * 1000)
    if args.power is not None:
        if args.power == "auto":
            wanted = None
        else:
            end = now_ms + int(args.for_s * 1000) if args.for_s else None
            wanted = Override("on" if args.power == "on" else "off", end)
        try:
            override.write(cfg.state_dir, wanted)
        except OSError as exc:
            raise EdgeError(
                f"cannot write {override.path(cfg.state_dir)}: {exc.strerror or exc} "
                "(run as root or as the omo-edge user)"
            ) from exc
    schedule = Schedule.from_config(p.hours, p.exceptions, p.timezone)
    now = plan(schedule, override.read(cfg.state_dir), now_ms)
    until = ""
    if now.until_ms is not None:
        until = " until " + time.strftime("%Y-%m-%d %H:%M %Z", time.localtime(now.until_ms / 1000))
    hours = "always on (no [panel] hours)" if schedule.always_on else "store hours"
    print(f"panel {now.power} by {now.by}{until}; schedule: {hours}")
    if args.power is not None:
        print(f"the daemon follows within {p.check_s:g} s", file=sys.stderr)
    return 0


def register(sub: Subcommands) -> None:
    display = add_config(
        sub.add_parser("display", help="panel on, off or auto (store hours), now or for a while")
    )
    display.add_argument("power", nargs="?", choices=("on", "off", "auto"), default=None)
    display.add_argument(
        "--for",
        dest="for_s",
        type=_duration,
        default=0.0,
        metavar="2h",
        help="then back to the schedule (default: until `display auto`)",
    )
    display.set_defaults(fn=cmd_display)
