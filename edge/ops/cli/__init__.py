"""The `omo-ops` command: what runs off the device (an ops laptop, the fleet broker, a lab).

One module per top-level command or group; each adds its parsers with
`register(sub)`, and a group nests its own subcommands (`omo-ops fleet acl`),
so a new group is a new module and one line in GROUPS.
"""

from __future__ import annotations

import argparse

from edge.cli.common import command_parser
from edge.cli.common import run as run_command
from edge.ops.cli import (
    ca,
    central,
    cmd,
    config_push,
    content,
    fleet,
    ingest,
    keygen,
    provision,
)

__all__ = ["build_parser", "main"]

GROUPS = (keygen, content, cmd, fleet, provision, central, ingest, ca, config_push)


def build_parser() -> argparse.ArgumentParser:
    return command_parser("omo-ops", __doc__ or "", GROUPS)


def main(argv: list[str] | None = None) -> int:
    return run_command(build_parser(), argv)
