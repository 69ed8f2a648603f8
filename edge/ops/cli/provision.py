"""`omo-ops provision list|pair|verify`: find devices on the store LAN, pair one with the code
on its screen, and wait until it is online on the broker (docs/provisioning.md)."""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

from edge.cli.common import Subcommands, positive_number
from edge.errors import EdgeError


def _say(line: str) -> None:
    print(f"{time.strftime('%H:%M:%S')}  {line}", file=sys.stderr, flush=True)


def _keys(pairs: list[str], flag: str) -> dict[str, str]:
    out = {}
    for pair in pairs:
        kid, sep, value = pair.partition("=")
        if not sep or not kid or not value:
            raise EdgeError(f"{flag} {pair!r}: give KID=BASE64")
        out[kid] = value
    return out


def cmd_list(args: argparse.Namespace) -> int:
    from edge.ops.pairing import browse, table

    devices = browse(args.interface, args.wait)
    print(table(devices))
    print(f"{len(devices)} device(s) found", file=sys.stderr)
    return 0


def cmd_pair(args: argparse.Namespace) -> int:
    import asyncio

    from edge.ops import pairing as ops

    if args.ca_dir is not None:  # the fleet PKI of `omo-ops ca init`
        if args.ca is not None or args.signing_ca_key is not None:
            raise EdgeError("--ca-dir replaces --ca and --signing-ca-key; give one or the other")
        args.ca = args.ca_dir / "fleet-ca.crt"  # device CA + root: the device's tls_ca
        args.signing_ca_key = args.ca_dir / "device-ca.key"
    if args.ca is None:
        raise EdgeError("give --ca FILE (or --ca-dir DIR)")
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
    signer = ops.Signer(ca_pem, ca_key, args.csr_out, args.csr_wait, record_in=args.ca_dir)
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


def cmd_verify(args: argparse.Namespace) -> int:
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


def _with_interface(p: argparse.ArgumentParser) -> argparse.ArgumentParser:
    p.add_argument(
        "--interface", default=None, help="IPv4 address or interface to browse on (default all)"
    )
    p.add_argument(
        "--wait", type=positive_number, default=3.0, help="seconds to browse (default 3)"
    )
    return p


def register(sub: Subcommands) -> None:
    prov = sub.add_parser("provision", help="find and pair devices on the store LAN")
    prov_sub = prov.add_subparsers(dest="provision_command", required=True)

    plist = _with_interface(prov_sub.add_parser("list", help="devices on the LAN and their state"))
    plist.set_defaults(fn=cmd_list)

    ppair = _with_interface(prov_sub.add_parser("pair", help="pair a device with its screen code"))
    ppair.add_argument("device", help="the device id shown on its screen")
    ppair.add_argument("--code", required=True, help="the 6-digit code shown on its screen")
    ppair.add_argument("--store", required=True, help="the store id it belongs to")
    ppair.add_argument("--broker", required=True, help="mqtts://HOST[:PORT] of the store broker")
    ppair.add_argument("--ca", type=Path, default=None, help="the CA certificate (PEM)")
    ppair.add_argument(
        "--ca-dir",
        type=Path,
        default=None,
        help="a CA folder of `omo-ops ca init`: sign with its device CA, record the certificate",
    )
    ppair.add_argument("--signing-ca-key", type=Path, default=None, help="sign with this CA key")
    ppair.add_argument(
        "--csr-out", type=Path, default=None, help="write DIR/ID.csr, wait for DIR/ID.crt"
    )
    ppair.add_argument(
        "--csr-wait", type=positive_number, default=600.0, help="seconds to wait for ID.crt"
    )
    ppair.add_argument("--address", default=None, help="HOST:PORT instead of browsing")
    for flag in ("--content-key", "--checkin-key", "--visitor-key"):
        ppair.add_argument(flag, action="append", default=[], metavar="KID=BASE64")
    ppair.set_defaults(fn=cmd_pair)

    pverify = prov_sub.add_parser("verify", help="wait until a device is online on the broker")
    pverify.add_argument("device")
    pverify.add_argument("--broker", required=True, help="mqtts://HOST[:PORT]")
    pverify.add_argument("--ca", type=Path, required=True)
    pverify.add_argument("--cert", type=Path, required=True, help="the ops client certificate")
    pverify.add_argument("--key", type=Path, required=True, help="its private key")
    pverify.add_argument("--timeout", type=positive_number, default=60.0)
    pverify.add_argument("--prefix", default="omo/v1")
    pverify.set_defaults(fn=cmd_verify)
