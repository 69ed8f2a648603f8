"""`omo-ops fleet ...`: the fleet as a whole; today `acl`, the broker's Mosquitto ACL."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from edge.cli.common import Subcommands


def cmd_acl(args: argparse.Namespace) -> int:
    from edge.files import write_atomic
    from edge.ops.fleet_acl import acl_from_file

    text = acl_from_file(args.inventory, args.prefix, args.central_user)
    if args.out is None:
        sys.stdout.write(text)
    else:
        write_atomic(args.out, text.encode(), 0o644)  # rules, not secrets; mosquitto reads it
    return 0


def register(sub: Subcommands) -> None:
    fleet = sub.add_parser("fleet", help="the fleet as a whole: broker ACL")
    fleet_sub = fleet.add_subparsers(dest="fleet_command", required=True)
    acl = fleet_sub.add_parser("acl", help="the fleet broker's Mosquitto ACL from an inventory")
    acl.add_argument("inventory", type=Path, help="'store_id device_id' per line")
    acl.add_argument("--prefix", default="omo/v1")
    acl.add_argument("--central-user", default="omo-central", help="the central service's CN")
    acl.add_argument("--out", type=Path, default=None, help="write here (default: stdout)")
    acl.set_defaults(fn=cmd_acl)
