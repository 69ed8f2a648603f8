"""`omo-edge factory-reset`: wipe identity, credentials, outbox and caches."""

from __future__ import annotations

import argparse
import sys

from edge.cli.common import Subcommands, add_config, say_config
from edge.errors import EdgeError


def cmd_factory_reset(args: argparse.Namespace) -> int:
    from edge import config as config_mod
    from edge.provision.device import factory_reset

    cfg = config_mod.load(args.config)
    say_config("omo-edge factory-reset", cfg)  # which state dir is about to go
    if not args.yes:
        if not sys.stdin.isatty():
            raise EdgeError("factory-reset wipes this device's identity and data: add --yes")
        answer = input(f"Wipe identity, credentials and all data in {cfg.state_dir}? [y/N] ")
        if answer.strip().lower() not in ("y", "yes"):
            print("nothing changed", file=sys.stderr)
            return 1
    removed = factory_reset(cfg)
    for path in removed:
        print(f"removed {path}", file=sys.stderr)
    print("factory reset done: the next start is a new, unpaired device", file=sys.stderr)
    return 0


def register(sub: Subcommands) -> None:
    reset = add_config(
        sub.add_parser("factory-reset", help="wipe identity, credentials and data (daemon stopped)")
    )
    reset.add_argument("--yes", action="store_true", help="do not ask")
    reset.set_defaults(fn=cmd_factory_reset)
