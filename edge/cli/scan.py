"""`omo-edge scan`: what the presence pipeline makes of adverts, live or from a trace."""

from __future__ import annotations

import argparse
import logging
import signal
import sys
from pathlib import Path

from edge.cli.common import Subcommands, add_config, positive_number, trace_file
from edge.errors import EdgeError


def cmd_scan(args: argparse.Namespace) -> int:
    from edge import config as config_mod
    from edge.presence.decode import BeaconDecoder

    cfg = config_mod.load(args.config)
    logging.basicConfig(
        level=logging.WARNING, stream=sys.stderr, format="omo-edge scan: %(message)s"
    )
    beacons = not args.no_beacons
    decoder = BeaconDecoder(cfg.allow_list)  # what the daemon would make of it
    if args.replay is not None:
        from edge.scan import replay

        if args.seconds is not None:
            raise EdgeError("--seconds applies to a live scan, not to --replay")
        replay(trace_file(args.replay), cfg.tracker_params, args.json, beacons, decoder=decoder)
        return 0

    import asyncio

    from edge.presence.bleak_source import BleakSource
    from edge.scan import live

    if args.record is not None and not args.record.parent.is_dir():
        raise EdgeError(f"cannot record to {args.record}: no directory {args.record.parent}")
    p = cfg.presence
    source = BleakSource(adapter=p.adapter or None, scanning_mode=p.scanning_mode)

    async def scan() -> None:
        loop = asyncio.get_running_loop()
        stop = asyncio.Event()
        for signum in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(signum, stop.set)
        try:
            await live(
                source,
                cfg.tracker_params,
                args.json,
                beacons,
                seconds=args.seconds,
                record=args.record,
                stop=stop,
                decoder=decoder,
            )
        finally:
            for signum in (signal.SIGINT, signal.SIGTERM):
                loop.remove_signal_handler(signum)

    until = f"for {args.seconds:g} s" if args.seconds is not None else "until Ctrl-C"
    print(
        f"omo-edge scan: scanning on {p.adapter or 'the default adapter'} "
        f"({p.scanning_mode}) {until}"
        + (f", recording to {args.record} (addresses hashed)" if args.record else ""),
        file=sys.stderr,
    )
    asyncio.run(scan())
    return 0


def register(sub: Subcommands) -> None:
    scan = add_config(
        sub.add_parser(
            "scan",
            help="decode and track adverts: live from BlueZ, or from a trace (--replay)",
        )
    )
    source = scan.add_mutually_exclusive_group()
    source.add_argument(
        "--replay", type=Path, default=None, help="trace file (JSON lines) instead of the radio"
    )
    source.add_argument(
        "--record",
        type=Path,
        default=None,
        metavar="FILE",
        help="live: also write every advert heard to FILE as a trace, each address "
        "replaced by h:+16 hex digits of an HMAC-SHA256 under a random key that is "
        "never stored",
    )
    scan.add_argument("--json", action="store_true", help="JSON lines output")
    scan.add_argument("--no-beacons", action="store_true", help="presence events only")
    scan.add_argument(
        "--seconds",
        type=positive_number,
        default=None,
        help="live: stop after N seconds (default: Ctrl-C)",
    )
    scan.set_defaults(fn=cmd_scan)
