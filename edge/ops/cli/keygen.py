"""`omo-ops keygen --kid KID --out FILE`: a content signing key for `content publish`."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from edge.cli.common import Subcommands


def cmd_keygen(args: argparse.Namespace) -> int:
    from edge.ops.signing_key import config_line, write_new_key

    key = write_new_key(args.out, args.kid, force=args.force)
    print(config_line(args.kid, key.public_b64))
    print(
        f"wrote {args.out} (mode 600: keep it secret). Devices trust the key with the line "
        f"above in their [content] table, or pair them with --content-key "
        f"{args.kid}={key.public_b64}",
        file=sys.stderr,
    )
    return 0


def register(sub: Subcommands) -> None:
    keygen = sub.add_parser("keygen", help="a new Ed25519 key for signing content")
    keygen.add_argument("--kid", required=True, help="its key id, e.g. content-2026")
    keygen.add_argument("--out", type=Path, required=True, help="the private key file to write")
    keygen.add_argument("--force", action="store_true", help="replace an existing file")
    keygen.set_defaults(fn=cmd_keygen)
