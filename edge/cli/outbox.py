"""`omo-edge outbox status|drain|export`: the event outbox, as ops inspect and empty it.

Each first says which config is in effect and where the state dir is (on
stderr, so stdout stays data): a run on built-in defaults is no surprise.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import TYPE_CHECKING

from edge.cli.common import Subcommands, add_config, positive_number, say_config, setup_logging
from edge.errors import EdgeError

if TYPE_CHECKING:
    from edge.config import Config

PROG = "omo-edge outbox"


def _config(path: Path | None) -> Config:
    from edge import config as config_mod

    cfg = config_mod.load(path)
    say_config(PROG, cfg)
    return cfg


def cmd_status(args: argparse.Namespace) -> int:
    from edge.outbox.store import Outbox

    cfg = _config(args.config)
    path = cfg.outbox_path
    if not path.exists():
        raise EdgeError(f"no outbox at {path} (storage.path); the daemon creates it on first run")
    with Outbox(path) as outbox:
        status = outbox.status()
    if args.json:
        print(json.dumps(status))
    else:
        for key, value in status.items():
            print(f"{key:<18} {value}")
    return 0


def cmd_export(args: argparse.Namespace) -> int:
    from edge.outbox.store import Outbox

    cfg = _config(args.config)
    path = cfg.outbox_path
    if not path.exists():
        raise EdgeError(f"no outbox at {path} (storage.path)")
    count = 0
    with Outbox(path) as outbox:
        out = sys.stdout if str(args.file) == "-" else args.file.open("w", encoding="utf-8")
        try:
            for body in outbox.events():
                out.write(body + "\n")
                count += 1
        finally:
            if out is not sys.stdout:
                out.close()
    print(f"exported {count} pending events to {args.file}", file=sys.stderr)
    return 0


def cmd_drain(args: argparse.Namespace) -> int:
    import asyncio

    from edge.lock import StateLock
    from edge.outbox.drain import drain

    setup_logging("warning")
    cfg = _config(args.config)
    interactive = sys.stderr.isatty()

    def progress(done: int, total: int, left: float | None) -> None:
        width = 30
        filled = width * done // total if total else width
        eta = "--:--" if left is None else f"{int(left) // 60:02d}:{int(left) % 60:02d}"
        line = f"[{'#' * filled}{'.' * (width - filled)}] {done}/{total} events, ETA {eta}"
        print(
            ("\r" if interactive else "") + line,
            end="" if interactive else "\n",
            file=sys.stderr,
            flush=True,
        )

    with StateLock(cfg.state_dir, "outbox drain"):
        sent = asyncio.run(drain(cfg, progress, args.connect_timeout))
    print(
        ("\n" if interactive else "") + f"drained: {sent} events acknowledged by central",
        file=sys.stderr,
    )
    return 0


def register(sub: Subcommands) -> None:
    outbox = sub.add_parser("outbox", help="inspect the event outbox")
    outbox_sub = outbox.add_subparsers(dest="outbox_command", required=True)
    status = add_config(outbox_sub.add_parser("status", help="pending, in flight, dropped, acked"))
    status.add_argument("--json", action="store_true")
    status.set_defaults(fn=cmd_status)
    drain = add_config(outbox_sub.add_parser("drain", help="push every pending event now"))
    drain.add_argument(
        "--connect-timeout",
        type=positive_number,
        default=30.0,
        metavar="SECONDS",
        help="give up if the broker cannot be reached in this time (default 30)",
    )
    drain.set_defaults(fn=cmd_drain)
    export = add_config(outbox_sub.add_parser("export", help="pending events as JSON lines"))
    export.add_argument("file", type=Path, help="output file, or - for standard output")
    export.set_defaults(fn=cmd_export)
