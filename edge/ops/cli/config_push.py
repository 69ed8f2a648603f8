"""`omo-ops config push FILE --store S [--device D] --signing-key FILE --kid KID`: a signed
config overlay, retained on `S/config` (the store) or `P/config` (one device).

FILE is TOML with the tables and keys of the device's config file, only those that may be
remote (edge/config/remote.py, REMOTE_KEYS). The overlay is checked here with the
config file's own rules before it is signed, so a typo is refused on the ops laptop and
not on every screen. Its version is the current time in ms unless given (it only goes up).
"""

from __future__ import annotations

import argparse
import base64
import json
import time
import tomllib
from pathlib import Path

from edge.cli.common import Subcommands, os_reason
from edge.ops.broker import add_broker_flags
from edge.ops.cli.shared import topic_word


def overlay_payload(
    settings: dict[str, dict[str, object]],
    *,
    store: str,
    device: str | None,
    seed_b64: str,
    kid: str,
    version: int,
    expires_ts: int,
    now_ms: int,
) -> bytes:
    """The signed payload, after the device's own checks against a default config."""
    from edge.config import remote
    from edge.config.load import Config
    from edge.ops.errors import OpsError

    overlay = {
        "version": version,
        "issued_ts": now_ms,
        "expires_ts": expires_ts,
        "scope": {"store_id": store, "device_id": device},
        "settings": settings,
    }
    payload = remote.sign(overlay, seed_b64, kid)
    try:
        checked = remote.verify(
            payload,
            scope="device" if device else "store",
            public_keys={kid: _public_b64(seed_b64)},
            store_id=store,
            device_id=device or "",
            now_ms=now_ms,
            highest=None,
        )
        remote.effective(Config(), checked)
    except remote.OverlayRejected as exc:
        raise OpsError(f"the overlay would be refused by the device: {exc}") from exc
    return payload


def _public_b64(seed_b64: str) -> str:
    from nacl.signing import SigningKey

    return base64.b64encode(bytes(SigningKey(base64.b64decode(seed_b64)).verify_key)).decode()


def cmd_push(args: argparse.Namespace) -> int:
    from edge.config.keys import duration_s
    from edge.ops.broker import Connection, broker_from_args
    from edge.ops.errors import OpsError
    from edge.ops.signing_key import check_kid, read_key

    try:
        settings = tomllib.loads(args.file.read_text())
    except OSError as exc:
        raise OpsError(f"{args.file}: cannot read it ({os_reason(exc)})") from exc
    except tomllib.TOMLDecodeError as exc:
        raise OpsError(f"{args.file}: not TOML ({exc})") from exc
    key = read_key(args.signing_key)
    kid = check_kid(args.kid)
    now_ms = int(time.time() * 1000)
    try:
        expires_ts = now_ms + int(duration_s(args.expires) * 1000)
    except ValueError as exc:
        raise OpsError(f"--expires: {exc}") from exc
    payload = overlay_payload(
        settings,
        store=args.store,
        device=args.device,
        seed_b64=base64.b64encode(bytes(key.key)).decode(),
        kid=kid,
        version=args.version or now_ms,
        expires_ts=expires_ts,
        now_ms=now_ms,
    )
    broker = broker_from_args(args)
    base = f"{broker.prefix}/{args.store}"
    topic = f"{base}/{args.device}/config" if args.device else f"{base}/_store/config"
    with Connection(broker, [], "omo-ops-config") as conn:
        conn.publish(topic, payload, retain=True)
    print(json.dumps({"topic": topic, "version": args.version or now_ms, "kid": kid}))
    return 0


def register(sub: Subcommands) -> None:
    config = sub.add_parser("config", help="remote config overlays, signed")
    config_sub = config.add_subparsers(dest="config_command", required=True)
    push = add_broker_flags(config_sub.add_parser("push", help="sign and publish an overlay"))
    push.add_argument("file", type=Path, help="TOML: the settings to lay over the devices'")
    push.add_argument("--store", type=topic_word, required=True)
    push.add_argument("--device", type=topic_word, default=None, help="one device (default all)")
    push.add_argument("--signing-key", type=Path, required=True, help="a config key (keygen)")
    push.add_argument("--kid", required=True, help="its id in the devices' [config] public_keys")
    push.add_argument("--version", type=int, default=None, help="default: now in ms")
    push.add_argument("--expires", default="30d", help="how long it holds (default 30d)")
    push.set_defaults(fn=cmd_push)
