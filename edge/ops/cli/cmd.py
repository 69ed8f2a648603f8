"""`omo-ops cmd --store S --device D screenshot|reload|purge-visitor|set-log-level|reprovision|
logs|display`:
one command to one device; the result is printed, exit 0 when it is `ok`, 1 otherwise."""

from __future__ import annotations

import argparse
import base64
import binascii
import struct
import sys
import time
from pathlib import Path
from typing import Any

from edge.cli.common import Subcommands, positive_number
from edge.ops.broker import add_broker_flags
from edge.ops.cli.shared import duration_s, topic_word
from edge.ops.errors import OpsError

LEVELS = ("debug", "info", "warning", "error")


def _lines(text: str) -> int:
    if not text.isdigit() or not 1 <= int(text) <= 5000:
        raise argparse.ArgumentTypeError(f"give a number of lines 1-5000, not {text!r}")
    return int(text)


def _arguments(args: argparse.Namespace) -> tuple[str, dict[str, Any]]:
    """The wire name of the command (`purge_visitor`) and its `args`."""
    name = str(args.cmd_name)
    if name == "purge-visitor":
        return "purge_visitor", {"visitor": args.visitor}
    if name == "set-log-level":
        return "set_log_level", {"level": args.level}
    if name == "logs":
        since = int((time.time() - args.since) * 1000) if args.since else 0
        return "logs", {"lines": args.lines, "since": since}
    if name == "display":
        until = int((time.time() + args.for_s) * 1000) if args.for_s else None
        return "display", {"power": args.power, "until": until}
    return name, {}


def _png_size(data: bytes) -> tuple[int, int] | None:
    if data[:8] != b"\x89PNG\r\n\x1a\n" or len(data) < 24:
        return None
    width, height = struct.unpack(">II", data[16:24])
    return int(width), int(height)


def _save_screenshot(png_b64: str | None, out: Path) -> str:
    from edge.files import write_atomic

    try:
        data = base64.b64decode(png_b64 or "", validate=True)
    except (binascii.Error, ValueError) as exc:
        raise OpsError("the device's screenshot is not base64") from exc
    size = _png_size(data)
    if size is None:
        raise OpsError("the device's screenshot is not a PNG")
    try:
        write_atomic(out, data, 0o644)
    except OSError as exc:
        raise OpsError(f"cannot write {out}: {exc.strerror or exc}") from exc
    return f"wrote {out} ({size[0]}x{size[1]}, {len(data)} bytes)"


def cmd_send(args: argparse.Namespace) -> int:
    from edge.ops.broker import broker_from_args
    from edge.ops.commands import NoResult, build, send_all

    name, cmd_args = _arguments(args)
    out: Path | None = getattr(args, "out", None)
    if out is not None and not out.parent.is_dir():
        raise OpsError(f"--out {out}: no folder {out.parent}")
    broker = broker_from_args(args)
    now_ms = int(time.time() * 1000)
    command = build(name, cmd_args, now_ms, int(args.expires_in * 1000))
    try:
        results = send_all(broker, args.store, args.device, command, args.timeout)
    except NoResult as exc:
        print(f"omo-ops: {exc}", file=sys.stderr)
        return 1
    result = results[0]
    if name == "logs" and result.ok:
        for part in results:
            for line in part.lines or []:
                print(line)
        print(f"{args.store}/{args.device} logs: {result.detail.split(',')[0]}", file=sys.stderr)
        return 0
    verdict = "ok" if result.ok else "refused"
    print(f"{args.store}/{args.device} {name} {verdict}: {result.detail}")
    if result.ok and out is not None:
        print(_save_screenshot(result.png_b64, out))
    return 0 if result.ok else 1


def register(sub: Subcommands) -> None:
    cmd = add_broker_flags(sub.add_parser("cmd", help="send a command to a device, print result"))
    cmd.add_argument("--store", type=topic_word, required=True)
    cmd.add_argument("--device", type=topic_word, required=True)
    cmd.add_argument(
        "--timeout", type=positive_number, default=30.0, metavar="S", help="wait this long"
    )
    cmd.add_argument(
        "--expires-in",
        type=duration_s,
        default=duration_s("5m"),
        metavar="5m",
        help="the device refuses it after this (it waits at the broker while the device is away)",
    )
    csub = cmd.add_subparsers(dest="cmd_name", required=True)
    shot = csub.add_parser("screenshot", help="a PNG of the screen as shoppers see it")
    shot.add_argument("--out", type=Path, required=True, metavar="FILE.png")
    csub.add_parser("reload", help="read every asset again and repaint")
    purge = csub.add_parser("purge-visitor", help="erase a visitor from the device")
    purge.add_argument("visitor", help="as issued, or its pseudonym h{kid}:...")
    level = csub.add_parser("set-log-level", help="the daemon's log level until it restarts")
    level.add_argument("level", choices=LEVELS)
    csub.add_parser("reprovision", help="the device leaves its store and shows its pairing screen")
    logs = csub.add_parser("logs", help="the daemon's recent log lines (redacted), to stdout")
    logs.add_argument("--lines", type=_lines, default=200, metavar="N", help="1-5000 (200)")
    logs.add_argument(
        "--since", type=duration_s, default=0.0, metavar="1h", help="only lines this recent"
    )
    display = csub.add_parser("display", help="panel power: on, off, or auto (store hours)")
    display.add_argument("power", choices=("on", "off", "auto"))
    display.add_argument(
        "--for",
        dest="for_s",
        type=duration_s,
        default=0.0,
        metavar="2h",
        help="then back to the schedule (default: until `auto`)",
    )
    cmd.set_defaults(fn=cmd_send)
