"""`omo-edge doctor`: check this device; one OK, WARN or FAIL line per finding."""

from __future__ import annotations

import argparse
import logging

from edge.cli.common import Subcommands, add_config


def cmd_doctor(args: argparse.Namespace) -> int:
    from edge.doctor import run_checks

    logging.basicConfig(level=logging.ERROR)  # config warnings come as WARN lines instead
    failed = False
    for finding in run_checks(args.config):
        print(finding.line(), flush=True)
        failed = failed or finding.status == "FAIL"
    return 1 if failed else 0


def register(sub: Subcommands) -> None:
    doctor = add_config(
        sub.add_parser("doctor", help="check this device: OK, WARN or FAIL and what to do")
    )
    doctor.set_defaults(fn=cmd_doctor)
