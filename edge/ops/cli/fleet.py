"""`omo-ops fleet status|acl`: the fleet as a whole: each device's retained state, and the
broker's Mosquitto ACL."""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

from edge.cli.common import Subcommands
from edge.ops.broker import add_broker_flags
from edge.ops.cli.shared import topic_word


def cmd_status(args: argparse.Namespace) -> int:
    from edge.ops import fleet_view as view
    from edge.ops.broker import Connection, broker_from_args

    broker = broker_from_args(args)
    topic = view.state_topic(broker.prefix, args.store)
    with Connection(broker, [topic], "omo-ops-status") as conn:
        messages = conn.settle()
    now_ms = int(time.time() * 1000)
    seen = view.latest(broker.prefix, ((m.topic, m.payload) for m in messages))
    rows = [view.status_row(found, now_ms) for _, found in sorted(seen.items())]
    if args.json:
        print(json.dumps(rows, ensure_ascii=False))
    elif rows:
        print(view.table(rows))
    if not rows:
        print(f"no device has a retained state under {topic}", file=sys.stderr)
    return 0


def cmd_acl(args: argparse.Namespace) -> int:
    from edge.files import write_atomic
    from edge.ops.fleet_acl import acl_from_file

    revoked: set[str] = set()
    if args.ca is not None:
        from edge.ops.ca import revoked_devices

        revoked = revoked_devices(args.ca)
    text = acl_from_file(args.inventory, args.prefix, args.central_user, revoked)
    if args.out is None:
        sys.stdout.write(text)
    else:
        write_atomic(args.out, text.encode(), 0o644)  # rules, not secrets; mosquitto reads it
    return 0


def register(sub: Subcommands) -> None:
    fleet = sub.add_parser("fleet", help="the fleet as a whole: status, broker ACL")
    fleet_sub = fleet.add_subparsers(dest="fleet_command", required=True)
    status = add_broker_flags(fleet_sub.add_parser("status", help="one row per device"))
    status.add_argument("--store", type=topic_word, default=None, help="one store (default all)")
    status.add_argument("--json", action="store_true", help="a JSON list, one object per device")
    status.set_defaults(fn=cmd_status)
    acl = fleet_sub.add_parser("acl", help="the fleet broker's Mosquitto ACL from an inventory")
    acl.add_argument("inventory", type=Path, help="'store_id device_id' per line")
    acl.add_argument("--prefix", default="omo/v1")
    acl.add_argument("--central-user", default="omo-central", help="the central service's CN")
    acl.add_argument("--out", type=Path, default=None, help="write here (default: stdout)")
    acl.add_argument(
        "--ca", type=Path, default=None, help="CA folder: devices revoked there get no rules"
    )
    acl.set_defaults(fn=cmd_acl)
