"""`omo-ops ingest` (central's event store, fed by every device) and `omo-ops purge VISITOR`."""

from __future__ import annotations

import argparse
import logging
import multiprocessing
import signal
import sys
import threading
from types import FrameType

from edge.cli.common import Subcommands, positive_number, setup_logging
from edge.ops.broker import Broker, add_broker_flags
from edge.ops.cli.shared import duration_s
from edge.ops.errors import OpsError

log = logging.getLogger("edge")
DEFAULT_DB = "sqlite:///omo-central.sqlite3"


def _worker_main(broker: Broker, db_url: str, group: str, number: int) -> None:
    """One worker process: stops cleanly on SIGTERM (its batches in hand are not acked)."""
    from edge.ops.ingest.worker import IngestWorker

    setup_logging("info")
    worker = IngestWorker(broker, db_url, group=group, name=f"omo-ingest-{number}")
    signal.signal(signal.SIGTERM, lambda *_: worker._stopping.set())
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # the parent decides
    try:
        worker.run()
    except OpsError as exc:
        print(f"omo-ops ingest worker {number}: {exc}", file=sys.stderr)
        sys.exit(2)


def cmd_ingest(args: argparse.Namespace) -> int:
    from edge.ops.broker import broker_from_args
    from edge.ops.ingest.database import Database

    setup_logging("info")
    broker = broker_from_args(args)
    Database.open(args.db).close()  # created or migrated once, and a bad --db said here
    stop = threading.Event()

    def on_signal(_n: int, _f: FrameType | None) -> None:
        stop.set()

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    spawn = multiprocessing.get_context("spawn")
    procs = [
        spawn.Process(
            target=_worker_main, args=(broker, args.db, args.group, n), name=f"omo-ingest-{n}"
        )
        for n in range(args.workers)
    ]
    for proc in procs:
        proc.start()
    log.info("%d ingest workers in group %s", args.workers, args.group)
    while not stop.wait(0.5):
        dead = [p for p in procs if not p.is_alive()]
        if dead:
            log.error("ingest worker %s ended (exit %s); stopping", dead[0].name, dead[0].exitcode)
            break
    for proc in procs:
        if proc.is_alive():
            proc.terminate()  # SIGTERM: the worker stops after its current transaction
    for proc in procs:
        proc.join(20)
    return 0 if stop.is_set() else 2


def cmd_purge(args: argparse.Namespace) -> int:
    from edge.ops.broker import broker_from_args
    from edge.ops.ingest.database import Database
    from edge.ops.ingest.purge import purge

    broker = broker_from_args(args)
    db = Database.open(args.db)
    try:
        report = purge(
            db, broker, args.visitor, timeout_s=args.timeout, expires_in_s=args.expires_in
        )
    finally:
        db.close()
    stores = ", ".join(report.stores) or "none"
    print(f"database: {report.events_erased} events erased (stores where seen: {stores})")
    for name, result in sorted(report.answered.items()):
        print(f"{name} purge_visitor {'ok' if result.ok else 'refused'}: {result.detail}")
    for name in report.silent:
        print(f"{name}: no answer yet; the command waits at the broker until it expires")
    return 0 if report.complete else 1


def register(sub: Subcommands) -> None:
    ingest = add_broker_flags(
        sub.add_parser(
            "ingest",
            help="store every device's events in a database, ack after the commit",
        )
    )
    _db_flag(ingest)
    ingest.add_argument(
        "--workers", type=_workers, default=1, metavar="N", help="worker processes (default 1)"
    )
    ingest.add_argument(
        "--group",
        default="omo-ingest",
        help="the shared subscription's group: workers in one group split the load",
    )
    ingest.set_defaults(fn=cmd_ingest)
    erase = add_broker_flags(
        sub.add_parser("purge", help="erase a visitor from the ingest database and the devices")
    )
    erase.add_argument("visitor", help="as the devices report it (the pseudonym h{kid}:... if so)")
    _db_flag(erase)
    erase.add_argument(
        "--timeout", type=positive_number, default=30.0, metavar="S", help="wait for the devices"
    )
    erase.add_argument(
        "--expires-in",
        type=duration_s,
        default=duration_s("7d"),
        metavar="7d",
        help="a device away longer than this never gets the command",
    )
    erase.set_defaults(fn=cmd_purge)


def _db_flag(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--db",
        default=DEFAULT_DB,
        metavar="URL",
        help=f"sqlite:///PATH or postgresql://USER@HOST/DB (default {DEFAULT_DB})",
    )


def _workers(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        value = 0
    if not 1 <= value <= 64:
        raise argparse.ArgumentTypeError(f"{text!r}: give a number of workers 1-64")
    return value
