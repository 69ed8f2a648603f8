"""The `omo-edge` command: run, demo, scan, outbox, doctor, provision, factory-reset, sims."""

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


def _setup_logging(level: str) -> None:
    from edge import logs

    logs.setup(level)  # journald-aware format, MAC-shaped strings redacted


def make_source(cfg: config_mod.Config) -> tuple[AdvertSource, Any]:
    """The advert source the config names; the second item tells when a replay is done."""
    p = cfg.presence
    spec: str = p.source
    if spec.startswith("replay:"):
        from edge.sim.replay import ReplaySource

        path = Path(spec.removeprefix("replay:"))
        if not path.is_file():
            raise ConfigError("presence.source", spec, "replay:PATH of an existing trace file")
        replay = ReplaySource(path, float(p.replay_speed), bool(p.replay_loop))
        return replay, lambda: replay.done
    from edge.presence.bleak_source import BleakSource

    return BleakSource(adapter=p.adapter or None, scanning_mode=p.scanning_mode), lambda: False


def cmd_run(args: argparse.Namespace) -> int:
    from edge.app import Device

    _setup_logging("info")  # before loading, so config warnings are seen
    cfg = config_mod.load(args.config)
    logging.getLogger().setLevel(cfg.log.level.upper())
    source, _done = make_source(cfg)
    device = Device(cfg, source)
    signal.signal(signal.SIGTERM, lambda *_: device.stop.set())
    signal.signal(signal.SIGINT, lambda *_: device.stop.set())
    log.info(
        "omo-edge %s starting (%s; %s)",
        __version__,
        "provisioned" if cfg.provisioned else "not provisioned",
        cfg.describe(),
    )
    device.run(args.duration)
    log.info("stopped: %s", json.dumps(device.stats.summary()))
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


def cmd_outbox_status(args: argparse.Namespace) -> int:
    from edge.outbox.store import Outbox

    cfg = config_mod.load(args.config)
    path = Path(cfg.storage.path)
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
    path = Path(cfg.storage.path)
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


def cmd_doctor(args: argparse.Namespace) -> int:
    from edge.doctor import run_checks

    logging.basicConfig(level=logging.ERROR)  # config warnings come as WARN lines instead
    failed = False
    for finding in run_checks(args.config):
        print(finding.line(), flush=True)
        failed = failed or finding.status == "FAIL"
    return 1 if failed else 0


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


def _say(line: str) -> None:
    print(f"{time.strftime('%H:%M:%S')}  {line}", file=sys.stderr, flush=True)


def cmd_provision_list(args: argparse.Namespace) -> int:
    from edge.ops.pairing import browse, table

    devices = browse(args.interface, args.wait)
    print(table(devices))
    print(f"{len(devices)} device(s) found", file=sys.stderr)
    return 0


def _keys(pairs: list[str], flag: str) -> dict[str, str]:
    out = {}
    for pair in pairs:
        kid, sep, value = pair.partition("=")
        if not sep or not kid or not value:
            raise EdgeError(f"{flag} {pair!r}: give KID=BASE64")
        out[kid] = value
    return out


def cmd_provision_pair(args: argparse.Namespace) -> int:
    import asyncio

    from edge.ops import pairing as ops

    if (args.signing_ca_key is None) == (args.csr_out is None):
        raise EdgeError("give exactly one of --signing-ca-key FILE or --csr-out DIR")
    broker = ops.parse_broker(args.broker)
    try:
        ca_pem = args.ca.read_bytes()
        ca_key = args.signing_ca_key.read_bytes() if args.signing_ca_key else None
    except OSError as exc:
        raise EdgeError(f"cannot read {exc.filename}: {exc.strerror}") from exc
    keys = {
        "content": _keys(args.content_key, "--content-key"),
        "checkin": _keys(args.checkin_key, "--checkin-key"),
        "visitor": _keys(args.visitor_key, "--visitor-key"),
    }
    signer = ops.Signer(ca_pem, ca_key, args.csr_out, args.csr_wait)
    if args.address:
        host, _, port = args.address.rpartition(":")
        if not host or not port.isdigit() or not 0 < int(port) < 65536:
            raise EdgeError(f"--address {args.address!r}: give HOST:PORT, e.g. 192.168.1.40:8788")
        where = (host, int(port))
    else:
        _say(f"looking for {args.device} on the LAN")
        device = ops.find(args.device, args.interface, args.wait)
        if device.provisioned:
            raise EdgeError(
                f"device {args.device} is already provisioned (store {device.store or '?'}); "
                "reprovision or factory-reset it first"
            )
        where = (device.address, device.pair_port)
        _say(
            f"found {device.id} ({device.model}, omo-edge {device.version}) at "
            f"{where[0]}:{where[1]}"
        )
    make = ops.bundle_maker(args.device, args.store, broker, signer=signer, say=_say, keys=keys)
    asyncio.run(
        ops.pair_at(where[0], where[1], args.device, code=args.code, make_bundle=make, say=_say)
    )
    _say(
        f"paired: {args.device} now belongs to store {args.store} and connects to "
        f"{broker.host}:{broker.port}"
    )
    return 0


def cmd_provision_verify(args: argparse.Namespace) -> int:
    from edge.ops import pairing as ops

    broker = ops.parse_broker(args.broker)
    _say(f"waiting for {args.device} to come online on {broker.host}:{broker.port}")
    state = ops.verify(
        args.device,
        broker,
        ca=args.ca,
        cert=args.cert,
        key=args.key,
        timeout_s=args.timeout,
        prefix=args.prefix,
    )
    _say(f"{args.device} is online ({state.get('topic')}, omo-edge {state.get('version')})")
    return 0


def cmd_factory_reset(args: argparse.Namespace) -> int:
    from edge.provision.device import factory_reset

    cfg = config_mod.load(args.config)
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


def cmd_fleet_acl(args: argparse.Namespace) -> int:
    from edge.files import write_atomic
    from edge.ops.fleet_acl import acl_from_file

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

    prov = sub.add_parser("provision", help="find and pair devices on the LAN (ops)")
    prov_sub = prov.add_subparsers(dest="provision_command", required=True)

    def with_interface(p: argparse.ArgumentParser) -> argparse.ArgumentParser:
        p.add_argument(
            "--interface", default=None, help="IPv4 address or interface to browse on (default all)"
        )
        p.add_argument("--wait", type=float, default=3.0, help="seconds to browse (default 3)")
        return p

    plist = with_interface(prov_sub.add_parser("list", help="devices on the LAN and their state"))
    plist.set_defaults(fn=cmd_provision_list)
    ppair = with_interface(prov_sub.add_parser("pair", help="pair a device with its screen code"))
    ppair.add_argument("device", help="the device id shown on its screen")
    ppair.add_argument("--code", required=True, help="the 6-digit code shown on its screen")
    ppair.add_argument("--store", required=True, help="the store id it belongs to")
    ppair.add_argument("--broker", required=True, help="mqtts://HOST[:PORT] of the store broker")
    ppair.add_argument("--ca", type=Path, required=True, help="the CA certificate (PEM)")
    ppair.add_argument("--signing-ca-key", type=Path, default=None, help="sign with this CA key")
    ppair.add_argument(
        "--csr-out", type=Path, default=None, help="write DIR/ID.csr, wait for DIR/ID.crt"
    )
    ppair.add_argument("--csr-wait", type=float, default=600.0, help="seconds to wait for ID.crt")
    ppair.add_argument("--address", default=None, help="HOST:PORT instead of browsing")
    for flag in ("--content-key", "--checkin-key", "--visitor-key"):
        ppair.add_argument(flag, action="append", default=[], metavar="KID=BASE64")
    ppair.set_defaults(fn=cmd_provision_pair)
    pverify = prov_sub.add_parser("verify", help="wait until a device is online on the broker")
    pverify.add_argument("device")
    pverify.add_argument("--broker", required=True, help="mqtts://HOST[:PORT]")
    pverify.add_argument("--ca", type=Path, required=True)
    pverify.add_argument("--cert", type=Path, required=True, help="the ops client certificate")
    pverify.add_argument("--key", type=Path, required=True, help="its private key")
    pverify.add_argument("--timeout", type=float, default=60.0)
    pverify.add_argument("--prefix", default="omo/v1")
    pverify.set_defaults(fn=cmd_provision_verify)

    reset = with_config(
        sub.add_parser("factory-reset", help="wipe identity, credentials and data (daemon stopped)")
    )
    reset.add_argument("--yes", action="store_true", help="do not ask")
    reset.set_defaults(fn=cmd_factory_reset)
    doctor = with_config(
        sub.add_parser("doctor", help="check this device: OK, WARN or FAIL and what to do")
    )
    doctor.set_defaults(fn=cmd_doctor)

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
