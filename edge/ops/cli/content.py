"""`omo-ops content check|preview|publish|serve|verify`: signed content, from a folder to the
screens, judged by the device's own code at every step (docs/ops.md)."""

from __future__ import annotations

import argparse
import signal
import sys
import time
from pathlib import Path
from typing import TYPE_CHECKING

from edge.cli.common import Subcommands, positive_number
from edge.ops.broker import add_broker_flags
from edge.ops.cli.shared import (
    duration_s,
    manifest_version,
    rotation,
    say,
    screen_size,
    topic_word,
)
from edge.ops.content_rules import Content, Limits, Problem
from edge.ops.errors import OpsError

if TYPE_CHECKING:
    from edge.ops.signing_key import ContentKey


def _limits() -> Limits:
    """A screen's asset limits: the device's own defaults (`[content]` in its config)."""
    from edge.config.sections import ContentConfig

    defaults = ContentConfig()
    return Limits(defaults.max_asset_bytes, defaults.max_image_pixels)


def _checked(folder: Path) -> tuple[Content | None, list[Problem]]:
    from edge.ops.content_folder import read_folder
    from edge.ops.content_rules import check
    from edge.ops.preview import missing_glyphs

    return check(read_folder(folder), _limits(), missing_glyphs)


def _usable(folder: Path) -> Content:
    """The folder's content, or OpsError listing every problem (warnings go to stderr)."""
    content, problems = _checked(folder)
    for problem in problems:
        if problem.warning:
            print(problem, file=sys.stderr)
    if content is None:
        listed = "\n".join(str(p) for p in problems if not p.warning)
        raise OpsError(f"{folder} has problems a screen would refuse:\n{listed}")
    return content


def _count(n: int, what: str) -> str:
    return f"{n} {what}{'' if n == 1 else 's'}"


def cmd_check(args: argparse.Namespace) -> int:
    content, problems = _checked(args.folder)
    for problem in problems:
        print(problem)
    if content is None:
        count = sum(not p.warning for p in problems)
        print(f"{args.folder}: {count} problem(s); a screen would refuse this", file=sys.stderr)
        return 1
    size = sum(a.size for a in content.assets.values())
    counts = [
        _count(len(content.playlist), "slide"),
        _count(len(content.schedule), "window"),
        _count(len(content.offers), "offer"),
        _count(len(content.assets), "asset"),
    ]
    print(
        f"{args.folder}: {', '.join(counts)} ({size} bytes): a screen accepts it", file=sys.stderr
    )
    return 0


def cmd_preview(args: argparse.Namespace) -> int:
    from edge.ops.preview import render

    content = _usable(args.folder)
    if args.out.exists() and not args.out.is_dir():
        raise OpsError(f"--out {args.out}: not a folder")
    try:
        files = render(
            content, args.folder, args.out, size=args.size, rotation=args.rotation, say=say
        )
    except OSError as exc:
        raise OpsError(f"cannot write to {args.out}: {exc.strerror or exc}") from exc
    for path in files:
        print(path)
    return 0


def _key(args: argparse.Namespace) -> tuple[ContentKey, str]:
    from edge.doctor.keys import PUBLISHED_TEST_KEYS
    from edge.ops.signing_key import check_kid, read_key, readable_by_others

    kid = check_kid(args.kid)
    key = read_key(args.signing_key)
    if key.kid is not None and key.kid != kid:
        raise OpsError(
            f"{args.signing_key} is the key for kid {key.kid!r}, not {kid!r}: devices would look "
            "up the wrong public key"
        )
    if key.public_b64 in PUBLISHED_TEST_KEYS:
        say(f"WARNING: {args.signing_key} is the published test key of docs/vectors/")
    if readable_by_others(args.signing_key):
        say(f"WARNING: {args.signing_key} is readable by other users: chmod 600 it")
    return key, kid


def cmd_publish(args: argparse.Namespace) -> int:
    from edge.ops.broker import broker_from_args
    from edge.ops.publish import Target, publish

    key, kid = _key(args)
    content = _usable(args.folder)
    withheld = set()
    for name in args.withhold:
        if name not in content.assets:
            raise OpsError(f"--withhold {name!r}: no slide names that asset")
        withheld.add(content.assets[name].sha256)
    broker = broker_from_args(args)
    target = Target(broker.prefix, args.store, args.device)
    report = publish(
        broker,
        target,
        content,
        key=key,
        kid=kid,
        expires_in_ms=int(args.expires_in * 1000),
        timeout_s=args.timeout,
        withheld=frozenset(withheld),
        say=say,
        version=args.version,
    )
    for line in report.lines():
        print(line)
    if not report.outcomes:
        say(f"no device of {target.store_id} has a state on this broker yet")
    if report.offline or not report.outcomes:
        folder = str(args.folder)
        say(
            f"the manifest waits retained for devices that are offline; keep "
            f"`omo-ops content serve --store {target.store_id}"
            f"{' --device ' + target.device_id if target.device_id else ''} {folder}` "
            "running to answer their asset requests when they come online"
        )
    return 0 if report.ok else 1


def cmd_sign(args: argparse.Namespace) -> int:
    from edge.content.manifest import manifest_digest
    from edge.files import write_atomic
    from edge.ops.content_rules import manifest, signed

    key, kid = _key(args)
    content = _usable(args.folder)
    now_ms = int(time.time() * 1000)
    body = manifest(
        content,
        store_id=args.store,
        device_id=args.device,
        version=args.version,
        issued_ts=now_ms,
        expires_ts=now_ms + int(args.expires_in * 1000),
    )
    payload = signed(body, key.key, kid)
    try:
        write_atomic(args.out, payload, 0o644)
    except OSError as exc:
        raise OpsError(f"cannot write {args.out}: {exc.strerror or exc}") from exc
    scope = "device" if args.device else "store"
    print(f"wrote {args.out}: {scope} manifest v{args.version}, digest {manifest_digest(payload)}")
    return 0


def cmd_serve(args: argparse.Namespace) -> int:
    from edge.ops.broker import broker_from_args
    from edge.ops.content_folder import asset_files
    from edge.ops.publish import Target, serve

    files = asset_files(args.folders)
    broker = broker_from_args(args)
    stopping: list[int] = []

    def stop_on(signum: int, _frame: object) -> None:
        stopping.append(signum)

    signal.signal(signal.SIGTERM, stop_on)
    signal.signal(signal.SIGINT, stop_on)
    target = Target(broker.prefix, args.store, args.device)
    server = serve(broker, target, files, say=say, stop=lambda: bool(stopping))
    say(f"stopped: sent {server.sent} asset(s), answered {server.missing} not found")
    return 0


def cmd_verify(args: argparse.Namespace) -> int:
    from edge.content.manifest import manifest_digest, valid_public_key, verify
    from edge.errors import ContentRejected

    keys = {}
    for pair in args.public_key:
        kid, sep, value = pair.partition("=")
        if not sep or not kid or not valid_public_key(value):
            raise OpsError(
                f"--public-key {pair!r}: give KID=BASE64 (a raw 32-byte Ed25519 public key, "
                "as `omo-ops keygen` prints it)"
            )
        keys[kid] = value
    try:
        payload = args.signed.read_bytes()
    except OSError as exc:
        raise OpsError(f"cannot read {args.signed}: {exc.strerror or exc}") from exc
    now_ms = int(time.time() * 1000)
    try:
        manifest = verify(
            payload,
            public_keys=keys,
            store_id=args.store,
            device_id=args.device or "",
            now_ms=now_ms,
            current_version=None,
        )
    except ContentRejected as exc:
        print(f"rejected: {exc.reason}: {exc.detail}")
        return 1
    scope = "device" if manifest.scope.device_id else "store"
    expires = time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime(manifest.expires_ts / 1000))
    print(
        f"accepted: {scope} manifest version {manifest.version}, digest "
        f"{manifest_digest(payload)}, {len(manifest.playlist)} slides, "
        f"{len(manifest.assets)} assets, expires {expires}"
    )
    return 0


def register(sub: Subcommands) -> None:
    content = sub.add_parser("content", help="check, preview, publish and serve signed content")
    csub = content.add_subparsers(dest="content_command", required=True)

    check = csub.add_parser("check", help="check a content folder as a screen would")
    check.add_argument("folder", type=Path, help="playlist.json, optional schedule.json, images/")
    check.set_defaults(fn=cmd_check)

    preview = csub.add_parser("preview", help="one PNG per slide, as a screen shows it")
    preview.add_argument("folder", type=Path)
    preview.add_argument("--out", type=Path, required=True, help="folder for the PNG files")
    preview.add_argument("--size", type=screen_size, default=(1920, 1080), metavar="WxH")
    preview.add_argument("--rotation", type=rotation, default=0, metavar="DEG")
    preview.set_defaults(fn=cmd_preview)

    pub = add_broker_flags(
        csub.add_parser("publish", help="sign, publish, serve, wait for screens")
    )
    pub.add_argument("folder", type=Path)
    _scope(pub)
    _signing(pub)
    pub.add_argument("--timeout", type=positive_number, default=120.0, metavar="S")
    pub.add_argument(
        "--version",
        type=manifest_version,
        default=None,
        metavar="N",
        help="this version (default: one above anything the devices in scope show)",
    )
    pub.add_argument(
        "--withhold",
        action="append",
        default=[],
        metavar="NAME",
        help="answer this asset 'not found' (rehearse how screens take a missing asset)",
    )
    pub.set_defaults(fn=cmd_publish)

    sign = csub.add_parser("sign", help="sign a folder's manifest into a file (nothing sent)")
    sign.add_argument("folder", type=Path)
    _scope(sign)
    _signing(sign)
    sign.add_argument("--version", type=manifest_version, required=True, metavar="N")
    sign.add_argument("--out", type=Path, required=True, metavar="FILE")
    sign.set_defaults(fn=cmd_sign)

    serve = add_broker_flags(csub.add_parser("serve", help="answer asset requests until stopped"))
    _scope(serve)
    serve.add_argument("folders", type=Path, nargs="+", metavar="FOLDER")
    serve.set_defaults(fn=cmd_serve)

    ver = csub.add_parser("verify", help="a device's verdict on a signed manifest file")
    ver.add_argument("signed", type=Path, metavar="SIGNED")
    ver.add_argument(
        "--public-key", action="append", required=True, metavar="KID=BASE64", help="repeatable"
    )
    _scope(ver)
    ver.set_defaults(fn=cmd_verify)


def _signing(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--signing-key", type=Path, required=True, help="from `omo-ops keygen`")
    parser.add_argument("--kid", required=True, help="the key id devices know the key by")
    parser.add_argument(
        "--expires-in",
        type=duration_s,
        default=duration_s("30d"),
        metavar="30d",
        help="screens stop playing it then (default 30d)",
    )


def _scope(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--store", type=topic_word, required=True, help="the store id")
    parser.add_argument(
        "--device", type=topic_word, default=None, help="one device (default: the whole store)"
    )
