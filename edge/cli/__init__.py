"""The `omo-edge` command: what runs on the device.

One module per command or group (`run`, `demo`, `scan`, `outbox`, `factory-reset`,
`doctor`); each adds its parsers with `register(sub)`. What runs
elsewhere (pairing, the fleet ACL, the central simulator) is `omo-ops`
(edge/ops/cli/).
"""

from __future__ import annotations

import os

os.environ.setdefault("PYGAME_HIDE_SUPPORT_PROMPT", "1")  # before anything imports pygame

import argparse

from edge.cli import demo, display, doctor, outbox, reset, run, scan
from edge.cli.common import command_parser
from edge.cli.common import run as run_command
from edge.cli.run import make_source

__all__ = ["build_parser", "main", "make_source"]

GROUPS = (run, demo, scan, outbox, reset, doctor, display)


def build_parser() -> argparse.ArgumentParser:
    return command_parser("omo-edge", __doc__ or "", GROUPS)


def main(argv: list[str] | None = None) -> int:
    return run_command(build_parser(), argv)
