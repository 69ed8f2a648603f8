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


def cmd_sim(args: argparse.Namespace) -> int:
    """N simulated screens (edge/sim/fleet.py) at the daemon's traffic rates until stopped."""
    import signal
    import tempfile
    import threading
    from urllib.parse import urlsplit

    from edge.errors import EdgeError
    from edge.link.session import BrokerSettings
    from edge.sim.fleet import Fleet, FleetPlan

    parts = urlsplit(args.broker)
    if parts.scheme not in ("mqtt", "mqtts") or not parts.hostname:
        raise EdgeError(f"--broker {args.broker!r}: give mqtt://HOST:PORT or mqtts://HOST:PORT")
    if parts.scheme == "mqtts" and not (args.tls_ca and args.device_certs):
        raise EdgeError("mqtts:// needs --tls-ca and --device-certs (DEVICE.crt, DEVICE.key)")
    port = parts.port or (8883 if parts.scheme == "mqtts" else 1883)
    tls_ca = str(args.tls_ca) if parts.scheme == "mqtts" else ""
    state_dir = args.state_dir or Path(tempfile.mkdtemp(prefix="omo-fleet-sim-"))
    plan = FleetPlan(
        args.devices,
        BrokerSettings(parts.hostname, port, tls_ca=tls_ca),
        state_dir,
        shards=args.shards,
        certs_dir=args.device_certs if tls_ca else None,
    )
    stop = threading.Event()

    def on_signal(*_: object) -> None:
        stop.set()

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    started = time.monotonic()
    with Fleet(plan) as fleet:
        fleet.open(args.backlog)
        fleet.connect()
        fleet.traffic(True)
        print(
            f"{args.devices} simulated screens in {plan.shards} processes, outboxes in "
            f"{state_dir}; Ctrl-C stops",
            file=sys.stderr,
        )
        while args.duration is None or time.monotonic() - started < args.duration:
            if stop.wait(min(10.0, args.duration or 10.0)):
                break
            status = fleet.status()
            print(
                f"connected {status['connected']}/{args.devices}, "
                f"events pending {status['pending']}",
                file=sys.stderr,
            )
        figures = fleet.traffic(False)
        status = fleet.status()
    if args.state_dir is None:  # ours, made for this run
        import shutil

        shutil.rmtree(state_dir, ignore_errors=True)
    ms = sorted(figures["decide_ms"])
    summary = {
        "devices": args.devices,
        "connected": status["connected"],
        "events_pending": status["pending"],
        "decides": len(ms),
        "decide_failed": figures["decide_failed"],
        "decide_p50_ms": round(ms[len(ms) // 2], 2) if ms else None,
        "decide_p95_ms": round(ms[int(len(ms) * 0.95)], 2) if ms else None,
    }
    print(json.dumps(summary))
    return 0


def register(sub: Subcommands) -> None:
    fleet = sub.add_parser("fleet", help="the fleet as a whole: status, broker ACL, simulator")
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
    sim = fleet_sub.add_parser(
        "sim", help="N simulated screens (the device's own outbox, sync and link) on a broker"
    )
    sim.add_argument("--broker", required=True, metavar="mqtt[s]://HOST:PORT")
    sim.add_argument("--devices", type=int, default=100, help="how many screens (default 100)")
    sim.add_argument(
        "--shards", type=int, default=0, help="processes they share (default: 120 devices each)"
    )
    sim.add_argument("--backlog", type=int, default=0, help="events pending per screen at start")
    sim.add_argument("--state-dir", type=Path, default=None, help="their outboxes (default: temp)")
    sim.add_argument("--tls-ca", type=Path, default=None, help="CA of the broker's certificate")
    sim.add_argument(
        "--device-certs", type=Path, default=None, help="a folder of DEVICE.crt and DEVICE.key"
    )
    sim.add_argument("--duration", type=float, default=None, metavar="S", help="then stop")
    sim.set_defaults(fn=cmd_sim)
