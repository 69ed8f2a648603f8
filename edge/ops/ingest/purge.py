"""`omo-ops purge VISITOR`: erase a visitor from the ingest database and from every device
of the stores where they were seen, so erasure reaches every copy.

The order matters. First the database marks the visitor erased (a SHA-256 of the id,
never the id): from then on the ingest drops their events, so a batch a device
resends later cannot bring them back. Then their events are deleted, the devices
of those stores get `purge_visitor` (their outboxes may still hold unsent events
about them), and once the devices answered the delete runs again for anything
that was in flight meanwhile.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field

from edge.errors import EdgeError
from edge.link.schemas import CmdResult, encode, parse
from edge.ops.broker import Broker, Connection
from edge.ops.commands import build
from edge.ops.ingest.database import Database


@dataclass
class PurgeReport:
    events_erased: int = 0
    stores: list[str] = field(default_factory=list)
    answered: dict[str, CmdResult] = field(default_factory=dict)  # "store/device" -> result
    silent: list[str] = field(default_factory=list)  # sent; waits at the broker until it expires

    @property
    def complete(self) -> bool:
        return not self.silent and all(r.ok for r in self.answered.values())


def purge(
    db: Database, broker: Broker, visitor: str, *, timeout_s: float, expires_in_s: float
) -> PurgeReport:
    report = PurgeReport(stores=db.stores_of(visitor))
    known = db.devices_of(report.stores)
    db.mark_erased(visitor)
    report.events_erased = db.erase(visitor)
    if report.stores:
        _tell_devices(broker, report.stores, known, visitor, timeout_s, expires_in_s, report)
    report.events_erased += db.erase(visitor)  # what arrived while the devices purged
    return report


def _tell_devices(  # noqa: PLR0917 - private, called once
    broker: Broker,
    stores: list[str],
    known: list[tuple[str, str]],
    visitor: str,
    timeout_s: float,
    expires_in_s: float,
    report: PurgeReport,
) -> None:
    """`purge_visitor` to every device of `stores`: those the database has heard from, and
    those with a retained state there (a screen that never sent an event may still hold
    one about the visitor, or a cached decision)."""
    now_ms = int(time.time() * 1000)
    p = broker.prefix
    topics = [f"{p}/{s}/+/{leaf}" for s in stores for leaf in ("state", "cmd/result")]
    waiting: dict[str, str] = {}  # cmd_id -> "store/device"
    with Connection(broker, topics, "omo-ops-purge") as conn:
        devices = set(known)
        for retained in conn.settle():
            parts = retained.topic.split("/")
            if retained.topic.endswith("/state") and len(parts) >= 3 and parts[-2] != "_store":
                devices.add((parts[-3], parts[-2]))
        for store, device in sorted(devices):
            command = build("purge_visitor", {"visitor": visitor}, now_ms, int(expires_in_s * 1000))
            waiting[command.cmd_id] = f"{store}/{device}"
            conn.send(f"{p}/{store}/{device}/cmd", encode(command))
        conn.flush()
        deadline = time.monotonic() + timeout_s
        while waiting and time.monotonic() < deadline:
            message = conn.get(min(0.2, max(0.0, deadline - time.monotonic())))
            if message is None or not message.topic.endswith("/cmd/result"):
                continue
            try:
                result = parse(message.topic, message.payload, CmdResult)
            except EdgeError:
                continue
            name = waiting.pop(result.cmd_id, "")
            if name:
                report.answered[name] = result
    report.silent = sorted(waiting.values())
