"""`omo-edge demo`: the whole store loop on this machine, full screen unless told otherwise."""

from __future__ import annotations

import argparse
from pathlib import Path

from edge.cli.common import Subcommands, positive_number, setup_logging, trace_file


def cmd_demo(args: argparse.Namespace) -> int:
    from edge.sim.demo import DEMO_TRACE, run_demo

    trace = trace_file(args.trace or DEMO_TRACE)
    setup_logging("info")
    run_demo(
        args.duration,
        True if args.headless else None,
        args.screenshots,
        trace=trace,
        speed=args.speed,
        window=args.window,
    )
    return 0


def register(sub: Subcommands) -> None:
    demo = sub.add_parser("demo", help="the whole loop with simulated beacons and central")
    shown = demo.add_mutually_exclusive_group()
    shown.add_argument(
        "--headless", action="store_true", help="no screen (automatic without a display)"
    )
    shown.add_argument(
        "--window", action="store_true", help="a 1280x720 window instead of full screen"
    )
    demo.add_argument("--duration", type=positive_number, default=None, help="stop after SECONDS")
    demo.add_argument("--screenshots", type=Path, default=Path("demo-output/screenshots"))
    demo.add_argument(
        "--trace", type=Path, default=None, help="trace to replay (docs/traces.md format)"
    )
    demo.add_argument(
        "--speed", type=positive_number, default=5.0, help="replay speed (default 5x)"
    )
    demo.set_defaults(fn=cmd_demo)
