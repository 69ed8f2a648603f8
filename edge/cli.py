"""The `omo-edge` command: run, demo, scan, outbox, central-sim."""

from __future__ import annotations

import os

os.environ.setdefault("PYGAME_HIDE_SUPPORT_PROMPT", "1")  # before anything imports pygame

import argparse
import json
import logging
import signal
import sys
import time
from pathlib import Path
from typing import Any

from edge import __version__
from edge import config as config_mod
from edge.errors import ConfigError, EdgeError
from edge.presence.advert import AdvertSource

log = logging.getLogger("edge")


class _Clock(logging.Formatter):
    """Seconds since start, level only when it matters: readable in a terminal and journald."""

    def __init__(self) -> None:
        super().__init__()
        self._start = time.monotonic()

    def format(self, record: logging.LogRecord) -> str:
        level = "" if record.levelno == logging.INFO else f"{record.levelname.lower()}: "
        text = f"{time.monotonic() - self._start:7.1f}s  {level}{record.getMessage()}"
        if record.exc_info and record.levelno >= logging.ERROR:
            text += "\n" + self.formatException(record.exc_info)
        return text


def _setup_logging(level: str) -> None:
    handler = logging.StreamHandler(sys.stdout)
    handler.setFormatter(_Clock())
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level.upper())
    for noisy in ("bleak", "asyncio", "paho"):
        logging.getLogger(noisy).setLevel(logging.WARNING)


def make_source(cfg: config_mod.Config) -> tuple[AdvertSource, Any]:
    """The advert source the config names; the second item tells when a replay is done."""
    p = cfg["presence"]
    spec: str = p["source"]
    if spec.startswith("replay:"):
        from edge.sim.replay import ReplaySource

        path = Path(spec.removeprefix("replay:"))
        if not path.is_file():
            raise ConfigError("presence.source", spec, "replay:PATH of an existing trace file")
        replay = ReplaySource(path, float(p["replay_speed"]), bool(p["replay_loop"]))
        return replay, lambda: replay.done
    from edge.presence.bleak_source import BleakSource

    return BleakSource(
        adapter=p["adapter"] or None, scanning_mode=p["scanning_mode"]
    ), lambda: False


def cmd_run(args: argparse.Namespace) -> int:
    from edge.daemon import Daemon

    _setup_logging("info")  # before loading, so config warnings are seen
    cfg = config_mod.load(args.config)
    logging.getLogger().setLevel(cfg["log"]["level"].upper())
    source, _done = make_source(cfg)
    daemon = Daemon(cfg, source)
    signal.signal(signal.SIGTERM, lambda *_: daemon.stop.set())
    signal.signal(signal.SIGINT, lambda *_: daemon.stop.set())
    log.info(
        "omo-edge %s starting (%s)",
        __version__,
        "provisioned" if cfg.provisioned else "not provisioned",
    )
    daemon.run(args.duration)
    log.info("stopped: %s", json.dumps(daemon.stats.summary()))
    return 0


def cmd_demo(args: argparse.Namespace) -> int:
    from edge.sim.demo import DEMO_TRACE, run_demo

    _setup_logging("info")
    run_demo(
        args.duration,
        True if args.headless else None,
        args.screenshots,
        trace=args.trace or DEMO_TRACE,
        speed=args.speed,
    )
    return 0


def cmd_scan(args: argparse.Namespace) -> int:
    cfg = config_mod.load(args.config)
    logging.basicConfig(
        level=logging.WARNING, stream=sys.stderr, format="omo-edge scan: %(message)s"
    )
    from edge.presence.decode import BeaconDecoder

    beacons = not args.no_beacons
    decoder = BeaconDecoder(cfg.allow_list)  # what the daemon would make of it
    if args.replay is not None:
        from edge.scan import replay

        if args.seconds is not None:
            raise EdgeError("--seconds applies to a live scan, not to --replay")
        if not args.replay.is_file():
            raise EdgeError(f"trace file {args.replay} does not exist")
        replay(args.replay, cfg.tracker_params, args.json, beacons, decoder=decoder)
        return 0

    import asyncio

    from edge.presence.bleak_source import BleakSource
    from edge.scan import live

    if args.seconds is not None and not args.seconds > 0:
        raise EdgeError(f"--seconds must be a positive number, not {args.seconds}")
    if args.record is not None and not args.record.parent.is_dir():
        raise EdgeError(f"cannot record to {args.record}: no directory {args.record.parent}")
    p = cfg["presence"]
    source = BleakSource(adapter=p["adapter"] or None, scanning_mode=p["scanning_mode"])

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
        f"omo-edge scan: scanning on {p['adapter'] or 'the default adapter'} "
        f"({p['scanning_mode']}) {until}"
        + (f", recording to {args.record} (addresses hashed)" if args.record else ""),
        file=sys.stderr,
    )
    asyncio.run(scan())
    return 0


def cmd_outbox_status(args: argparse.Namespace) -> int:
    from edge.outbox.store import Outbox

    cfg = config_mod.load(args.config)
    path = Path(cfg["storage"]["path"])
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


def cmd_outbox_export(args: argparse.Namespace) -> int:
    from edge.outbox.store import Outbox

    cfg = config_mod.load(args.config)
    path = Path(cfg["storage"]["path"])
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


def cmd_outbox_drain(args: argparse.Namespace) -> int:
    import asyncio

    from edge.lock import StateLock
    from edge.outbox.drain import drain

    _setup_logging("warning")
    cfg = config_mod.load(args.config)
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


def cmd_central_sim(args: argparse.Namespace) -> int:
    from edge.sim.central import CentralSim

    _setup_logging("info")
    known = None
    if args.known:
        known = [line.strip() for line in args.known.read_text().splitlines() if line.strip()]
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


def cmd_fleet_acl(args: argparse.Namespace) -> int:
    from edge.files import write_atomic
    from edge.provision.fleet_acl import acl_from_file

    text = acl_from_file(args.inventory, args.prefix, args.central_user)
    if args.out is None:
        sys.stdout.write(text)
    else:
        write_atomic(args.out, text.encode(), 0o644)  # rules, not secrets; mosquitto reads it
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="omo-edge", description=__doc__)
    parser.add_argument("--version", action="version", version=f"omo-edge {__version__}")
    sub = parser.add_subparsers(dest="command", required=True)

    def with_config(p: argparse.ArgumentParser) -> argparse.ArgumentParser:
        p.add_argument(
            "--config",
            type=Path,
            default=None,
            help="TOML config (see config/edge.example.toml); default: built-in defaults",
        )
        return p

    run = with_config(sub.add_parser("run", help="run the daemon"))
    run.add_argument("--duration", type=float, default=None, help="stop after SECONDS")
    run.set_defaults(fn=cmd_run)

    demo = sub.add_parser("demo", help="the whole loop with simulated beacons and central")
    demo.add_argument(
        "--headless", action="store_true", help="no window (automatic without a display)"
    )
    demo.add_argument("--duration", type=float, default=None, help="stop after SECONDS")
    demo.add_argument("--screenshots", type=Path, default=Path("demo-output/screenshots"))
    demo.add_argument(
        "--trace", type=Path, default=None, help="trace to replay (ADVERTS.md format)"
    )
    demo.add_argument("--speed", type=float, default=5.0, help="replay speed (default 5x)")
    demo.set_defaults(fn=cmd_demo)

    scan = with_config(
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
        "--seconds", type=float, default=None, help="live: stop after N seconds (default: Ctrl-C)"
    )
    scan.set_defaults(fn=cmd_scan)

    outbox = sub.add_parser("outbox", help="inspect the event outbox")
    outbox_sub = outbox.add_subparsers(dest="outbox_command", required=True)
    status = with_config(outbox_sub.add_parser("status", help="pending, in flight, dropped, acked"))
    status.add_argument("--json", action="store_true")
    status.set_defaults(fn=cmd_outbox_status)
    drain = with_config(outbox_sub.add_parser("drain", help="push every pending event now"))
    drain.add_argument(
        "--connect-timeout",
        type=float,
        default=30.0,
        metavar="SECONDS",
        help="give up if the broker cannot be reached in this time (default 30)",
    )
    drain.set_defaults(fn=cmd_outbox_drain)
    export = with_config(outbox_sub.add_parser("export", help="pending events as JSON lines"))
    export.add_argument("file", type=Path, help="output file, or - for standard output")
    export.set_defaults(fn=cmd_outbox_export)

    central = sub.add_parser("central-sim", help="simulated central platform")
    central.add_argument("--host", default="127.0.0.1")
    central.add_argument("--port", type=int, default=1883)
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

    acl = sub.add_parser(
        "fleet-acl", help="the fleet broker's Mosquitto ACL from a device inventory"
    )
    acl.add_argument("inventory", type=Path, help="'store_id device_id' per line")
    acl.add_argument("--prefix", default="omo/v1")
    acl.add_argument("--central-user", default="omo-central", help="the central service's CN")
    acl.add_argument("--out", type=Path, default=None, help="write here (default: stdout)")
    acl.set_defaults(fn=cmd_fleet_acl)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return int(args.fn(args))
    except EdgeError as exc:
        print(f"omo-edge: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    sys.exit(main())
