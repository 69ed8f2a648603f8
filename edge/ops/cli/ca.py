"""`omo-ops ca init|sign-csr|revoke|serve|rotate`: the fleet's PKI (edge/ops/ca.py, docs/tls.md)."""

from __future__ import annotations

import argparse
import contextlib
import signal
import sys
import threading
from pathlib import Path

from edge.cli.common import Subcommands, positive_number
from edge.ops.broker import add_broker_flags


def _say(line: str) -> None:
    print(line, flush=True)


def cmd_init(args: argparse.Namespace) -> int:
    from edge.ops import ca

    written = ca.init(args.out, args.broker_host, name=args.name, crl_days=args.crl_days)
    for path in written:
        _say(f"wrote {path}")
    _say(
        f"now move {args.out / 'root.key'} OFF this machine (an offline medium in a safe): it "
        "is needed again only to make a new device or server CA"
    )
    return 0


def cmd_rotate(args: argparse.Namespace) -> int:
    from edge.ops import ca

    for path in ca.rotate_device_ca(
        args.ca, args.root_key.read_bytes(), days=args.days, crl_days=args.crl_days
    ):
        _say(f"wrote {path}")
    _say(
        f"next: install {args.ca / 'fleet-ca.crt'} (the new device CA, the old one, the root) "
        f"as the broker's cafile and {args.ca / ca.CRL_FILE} as its crlfile, then "
        "`sudo systemctl reload mosquitto`; `omo-ops ca serve` signs with the new CA from its "
        f"next request. Put {args.root_key} back offline. Devices need nothing: each moves "
        "to the new CA at its next renewal, and the old CA stays trusted, its CRL kept "
        "current, until it expires."
    )
    return 0


def cmd_sign_csr(args: argparse.Namespace) -> int:
    from edge.ops import ca

    signed = ca.sign_renewal(
        args.ca,
        args.csr.read_bytes(),
        device_id=args.device,
        store_id=args.store,
        inventory=ca.inventory_from(args.inventory),
        days=args.days,
        min_interval_s=0 if args.force else ca.RENEW_INTERVAL_S,
    )
    from edge.files import write_atomic

    write_atomic(args.out, signed.cert_pem + signed.chain_pem, 0o644)
    _say(f"wrote {args.out}: certificate for {args.device}, serial {signed.serial:x}, chain")
    return 0


def cmd_revoke(args: argparse.Namespace) -> int:
    from edge.files import write_atomic
    from edge.ops import ca
    from edge.ops.fleet_acl import acl_from_file

    extra = [p.read_bytes() for p in args.cert]
    serials = ca.revoke(args.ca, args.device, extra, args.crl_days)
    _say(
        f"{args.device}: {len(serials)} certificate(s) in the CRL "
        f"({', '.join(f'{s:x}' for s in serials) or 'none known: pass --cert'})"
    )
    if args.crl_out is not None:
        ca.copy_crl(args.ca, args.crl_out)
        _say(f"wrote {args.crl_out}")
    if args.inventory is not None and args.acl_out is not None:
        text = acl_from_file(
            args.inventory, args.prefix, args.central_user, ca.revoked_devices(args.ca)
        )
        write_atomic(args.acl_out, text.encode(), 0o644)
        _say(f"wrote {args.acl_out} without {args.device}")
    else:
        _say("the ACL is unchanged: regenerate it with omo-ops fleet acl INVENTORY --ca DIR")
    _say(ca.sighup(args.mosquitto_pid_file))
    if args.broker is not None:
        from edge.ops.broker import broker_from_args
        from edge.ops.ca_service import kick

        kick(broker_from_args(args), args.device)
        _say(f"{args.device}: its live connections closed; it cannot connect again")
    else:
        _say("its live connections stay until they drop: give --broker to close them now")
    return 0


def cmd_serve(args: argparse.Namespace) -> int:
    from edge.ops import ca
    from edge.ops.broker import broker_from_args
    from edge.ops.ca_service import CaService

    service = CaService(
        args.ca,
        broker_from_args(args),
        inventory=lambda: ca.inventory_from(args.inventory),
        days=args.days,
        crl_days=args.crl_days,
        crl_check_s=args.crl_check_s,
        pid_file=args.mosquitto_pid_file,
        crl_out=args.crl_out,
        say=_say,
    )
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    with contextlib.suppress(KeyboardInterrupt):
        service.serve(stop)
    print(f"signed {service.signed}, refused {service.refused}", file=sys.stderr)
    return 0


def _ca_flag(p: argparse.ArgumentParser) -> None:
    p.add_argument("--ca", type=Path, required=True, help="the CA folder (`ca init --out`)")


def _crl_flags(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--crl-out", type=Path, default=None, help="copy the CRL here (the broker's crlfile)"
    )
    p.add_argument(
        "--crl-days", type=positive_number, default=30.0, help="CRL validity (default 30)"
    )
    p.add_argument(
        "--mosquitto-pid-file",
        type=Path,
        default=Path("/run/mosquitto/mosquitto.pid"),
        help="signal this Mosquitto to re-read CRL and ACL (on the broker host)",
    )


def register(sub: Subcommands) -> None:
    group = sub.add_parser("ca", help="the fleet's PKI: init, sign-csr, revoke, serve, rotate")
    ca_sub = group.add_subparsers(dest="ca_command", required=True)

    init = ca_sub.add_parser("init", help="root (offline), device CA, server CA, broker cert")
    init.add_argument("--out", type=Path, required=True, help="an empty folder")
    init.add_argument(
        "--broker-host",
        action="append",
        required=True,
        help="a name or address devices dial for the broker (repeat for more)",
    )
    init.add_argument("--name", default="omo fleet", help="CA names start with this")
    init.add_argument("--crl-days", type=positive_number, default=30.0)
    init.set_defaults(fn=cmd_init)

    rotate = ca_sub.add_parser("rotate", help="a new device CA; the old one kept until it expires")
    _ca_flag(rotate)
    rotate.add_argument(
        "--root-key", type=Path, required=True, help="root.key, brought back from offline"
    )
    rotate.add_argument("--days", type=positive_number, default=3650.0, help="its validity")
    rotate.add_argument("--crl-days", type=positive_number, default=30.0)
    rotate.set_defaults(fn=cmd_rotate)

    sign = ca_sub.add_parser("sign-csr", help="sign a device's CSR by hand (--csr-out flows)")
    _ca_flag(sign)
    sign.add_argument("--csr", type=Path, required=True, help="the device's PEM CSR")
    sign.add_argument("--device", required=True, help="the device id (must be the CSR's CN)")
    sign.add_argument("--store", default=None, help="its store (checked against the inventory)")
    sign.add_argument("--inventory", type=Path, required=True, help="'store_id device_id' lines")
    sign.add_argument("--days", type=positive_number, default=365.0)
    sign.add_argument("--force", action="store_true", help="even if signed within the hour")
    sign.add_argument("--out", type=Path, required=True, help="certificate + chain (PEM)")
    sign.set_defaults(fn=cmd_sign_csr)

    revoke = add_broker_flags(
        ca_sub.add_parser("revoke", help="CRL, fleet ACL, broker reload, connections closed"),
        required=False,
    )
    _ca_flag(revoke)
    revoke.add_argument("device", help="the device id")
    revoke.add_argument("--cert", type=Path, action="append", default=[], help="also this cert")
    revoke.add_argument("--inventory", type=Path, default=None, help="to rewrite the ACL")
    revoke.add_argument("--acl-out", type=Path, default=None, help="the ACL file to rewrite")
    revoke.add_argument("--central-user", default="omo-central")
    _crl_flags(revoke)
    revoke.set_defaults(fn=cmd_revoke)

    serve = add_broker_flags(ca_sub.add_parser("serve", help="answer P/csr; keep the CRL current"))
    _ca_flag(serve)
    serve.add_argument("--inventory", type=Path, required=True, help="'store_id device_id' lines")
    serve.add_argument("--days", type=positive_number, default=365.0, help="certificate validity")
    serve.add_argument("--crl-check-s", type=positive_number, default=3600.0)
    _crl_flags(serve)
    serve.set_defaults(fn=cmd_serve)
