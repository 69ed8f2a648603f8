"""`omo-ops central-sim`: the simulated central platform on a broker, until stopped."""

from __future__ import annotations

import argparse
import json
import logging
import signal
import time
from pathlib import Path

from edge.cli.common import Subcommands, port_number, setup_logging
from edge.errors import EdgeError

log = logging.getLogger("edge")


def cmd_central_sim(args: argparse.Namespace) -> int:
    from edge.sim.central import CentralSim

    setup_logging("info")
    known = None
    if args.known:
        try:
            lines = args.known.read_text(encoding="utf-8").splitlines()
        except (OSError, UnicodeDecodeError) as exc:
            raise EdgeError(f"cannot read --known {args.known}: {exc}") from exc
        known = [line.strip() for line in lines if line.strip()]
    stop = False

    def _stop(*_: object) -> None:
        nonlocal stop
        stop = True

    signal.signal(signal.SIGTERM, _stop)
    signal.signal(signal.SIGINT, _stop)
    tls = None
    if args.tls_ca:
        from edge.link.tls import TlsFiles

        tls = TlsFiles(args.tls_ca, args.tls_cert, args.tls_key)
    with CentralSim(args.host, args.port, prefix=args.prefix, known=known, tls=tls) as central:
        log.info("central simulator on %s:%s, prefix %s", args.host, args.port, args.prefix)
        while not stop:
            time.sleep(0.2)
        print(json.dumps(central.totals()))
    return 0


def register(sub: Subcommands) -> None:
    central = sub.add_parser("central-sim", help="simulated central platform")
    central.add_argument("--host", default="127.0.0.1")
    central.add_argument("--port", type=port_number, default=1883)
    central.add_argument("--prefix", default="omo/v1")
    central.add_argument(
        "--known",
        type=Path,
        default=None,
        help="file of known visitor ids, one a line (default: everyone)",
    )
    central.add_argument("--tls-ca", default="", help="CA of the broker's certificate (TLS)")
    central.add_argument("--tls-cert", default="", help="the service's client certificate")
    central.add_argument("--tls-key", default="", help="the service's private key")
    central.set_defaults(fn=cmd_central_sim)
