"""One ingest worker: a shared subscription to every device's `P/events`, a database, acks.

Several workers (processes, or machines) in the same `--group` split the devices'
batches between them with no coordination: the broker hands each message of an
MQTT 5 shared subscription (`$share/GROUP/...`) to one member. Each worker has a
clean session: a persistent one would make the broker queue batches for a worker
that died, while the device's own resend (`[sync] ack_timeout_s`) already carries
an unacknowledged batch to a live one. A worker takes what has arrived, writes it
in one transaction, and only after the commit publishes each batch's
`P/events/ack`; a database that refuses the write means no ack, so nothing is lost:
the devices send again. A crash between commit and ack costs a resend, which the
insert-or-ignore absorbs (counted as `duplicates`).
"""

from __future__ import annotations

import logging
import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import msgspec

from edge.ops.broker import Broker, Connection, Message
from edge.ops.ingest.batches import Batch, BatchRejected, events_topic, read_batch, shared
from edge.ops.ingest.database import Database, DatabaseError, Stored
from edge.quiet import QuietLog

log = logging.getLogger(__name__)
GROUP = "omo-ingest"
MAX_GROUP = 64
"""Batches written in one transaction at most (up to 64 x 200 events)."""
RETRY_S = 1.0
RECENT_BATCHES = 200_000
"""Batch ids this worker stored lately: a resend of one is acked again without the database."""


@dataclass
class Figures:
    batches: int = 0
    events: int = 0
    duplicates: int = 0
    erased: int = 0
    rejected: int = 0
    reacked: int = 0
    """Resends of batches this worker had stored: acked again, no transaction."""
    db_errors: int = 0
    transactions: int = 0

    def add(self, stored: Stored) -> None:
        self.batches += stored.batches
        self.events += stored.events
        self.duplicates += stored.duplicates
        self.erased += stored.erased
        self.transactions += 1


@dataclass
class IngestWorker:
    """`IngestWorker(broker, db_url).run(stop)`; or `start()` / `stop()` on a thread."""

    broker: Broker
    db_url: str
    group: str = GROUP
    name: str = "omo-ingest"
    after_commit: Callable[[Sequence[Batch]], None] = lambda _batches: None
    """Called between the commit and the acks (a test crashes the worker there)."""
    figures: Figures = field(default_factory=Figures)
    _stopping: threading.Event = field(default_factory=threading.Event)
    _thread: threading.Thread | None = None
    _ready: threading.Event = field(default_factory=threading.Event)

    def __post_init__(self) -> None:
        self._quiet = QuietLog(log)
        self.error: BaseException | None = None
        self._stored: OrderedDict[str, None] = OrderedDict()

    @property
    def subscription(self) -> str:
        return shared(self.group, events_topic(self.broker.prefix))

    def run(self, on_ready: Callable[[], None] = lambda: None) -> None:
        """Ingest until `stop()`; OpsError when the database or the broker cannot be used."""
        db = Database.open(self.db_url)
        try:
            # Back within 2 s of a broker restart: devices resend at once after their own
            # reconnect, and a batch sent while no worker is subscribed waits an ack timeout.
            with Connection(self.broker, [self.subscription], self.name, reconnect_max_s=2) as conn:
                log.info("ingesting %s into %s", self.subscription, _where(self.db_url))
                on_ready()
                self._serve(conn, db)
        finally:
            db.close()

    def _serve(self, conn: Connection, db: Database) -> None:
        reported = time.monotonic()
        while not self._stopping.is_set():
            first = conn.get(0.2)
            if first is not None:
                self._take([first, *_more(conn, MAX_GROUP - 1)], conn, db)
            if time.monotonic() - reported > 30:
                reported = time.monotonic()
                log.info("ingest so far: %s", self.figures)

    def _take(self, messages: list[Message], conn: Connection, db: Database) -> None:
        batches: list[Batch] = []
        again: list[tuple[str, str]] = []  # (ack topic, batch id) of batches stored already
        for message in messages:
            seen = self._stored_already(message)
            if seen is not None:
                again.append(seen)
                continue
            try:
                batches.append(read_batch(self.broker.prefix, message.topic, message.payload))
            except BatchRejected as exc:  # never acked: a device that sends it is broken
                self.figures.rejected += 1
                self._quiet.problem("bad-batch", "refused a batch on %s: %s", message.topic, exc)
        for topic, batch_id in again:
            self.figures.reacked += 1
            conn.send(topic, _ack(batch_id))
        if not batches:
            return
        try:
            stored = db.store(batches)
        except DatabaseError as exc:
            # No ack: every device sends its batch again after its ack timeout.
            self.figures.db_errors += 1
            self._quiet.problem(
                "db", "the database refused %d batches (%s); not acked", len(batches), exc
            )
            self._stopping.wait(RETRY_S)
            return
        self._quiet.resolved("db", "the database takes writes again")
        self.figures.add(stored)
        self.after_commit(batches)
        prefix = self.broker.prefix
        for batch in batches:
            conn.send(f"{prefix}/{batch.ack_topic_suffix}", _ack(batch.batch_id))
            self._remember(f"{batch.store_id}/{batch.device_id}/{batch.batch_id}")

    def _stored_already(self, message: Message) -> tuple[str, str] | None:
        """A resend of a batch this worker committed (its ack was late or lost): the ack
        topic and batch id, so it is acked again without parsing it or a transaction.

        Under a big backlog the devices' 10 s ack timeout is shorter than the queue ahead
        of a batch, so the fleet resends much of what is already waiting; storing those
        again cost half the ingest's time in the 1,000-device drain (docs/fleet.md).
        """
        try:
            batch_id = msgspec.json.decode(message.payload, type=_BatchId).batch_id
        except msgspec.MsgspecError:
            return None  # read_batch says what is wrong with it
        device = message.topic.removeprefix(self.broker.prefix + "/").removesuffix("/events")
        if f"{device}/{batch_id}" not in self._stored:
            return None
        return f"{message.topic}/ack", batch_id

    def _remember(self, key: str) -> None:
        self._stored[key] = None
        if len(self._stored) > RECENT_BATCHES:
            self._stored.popitem(last=False)

    # -- on a thread (tests, benchmarks, `--workers 1`) --------------------------------------
    def start(self, timeout_s: float = 15.0) -> IngestWorker:
        def main() -> None:
            try:
                self.run(self._ready.set)
            except BaseException as exc:
                self.error = exc
                self._ready.set()
                log.error("ingest worker %s ended: %s", self.name, exc)

        self._thread = threading.Thread(target=main, name=self.name, daemon=True)
        self._thread.start()
        if not self._ready.wait(timeout_s) or self.error is not None:
            self.stop()
            raise RuntimeError(f"ingest worker did not start: {self.error}")
        return self

    def stop(self) -> None:
        self._stopping.set()
        if self._thread is not None:
            self._thread.join(15)

    @property
    def alive(self) -> bool:
        return self._thread is not None and self._thread.is_alive()


class _BatchId(msgspec.Struct):
    batch_id: str


def _more(conn: Connection, limit: int) -> list[Message]:
    """What has already arrived, without waiting: it goes into the same transaction."""
    out: list[Message] = []
    while len(out) < limit:
        message = conn.get(0)
        if message is None:
            break
        out.append(message)
    return out


def _ack(batch_id: str) -> bytes:
    from edge.link.schemas import EventsAck, encode

    return encode(EventsAck(batch_id=batch_id))


def _where(url: str) -> str:
    return url.rsplit("@", maxsplit=1)[-1] if "://" in url else url
