"""`P/events` payloads read into rows (edge/ops/ingest/batches.py): the store and device from
the topic, every event's columns and whole JSON; anything else refused in words."""

from __future__ import annotations

import contextlib
import json

import pytest
from hypothesis import given
from hypothesis import strategies as st

from edge.ops.ingest.batches import BatchRejected, read_batch, shared, visitor_digest

TOPIC = "omo/v1/store-1/screen-1/events"


def event(**fields: object) -> dict[str, object]:
    base: dict[str, object] = {
        "id": "01a23b00-0000-7000-8000-000000000001",
        "type": "visit.exit",
        "ts": 1798765200000,
        "clock_synced": True,
        "visitor": "h1:5e0c",
        "visit_id": "01a23b00-0000-7000-8000-0000000000ff",
        "zone": "near",
        "rssi": -60,
        "dwell_ms": 42000,
    }
    base.update(fields)
    return base


def payload(*events: dict[str, object], **extra: object) -> bytes:
    return json.dumps(
        {"batch_id": "b-1", "device_id": "spoofed", "events": list(events), **extra}
    ).encode()


def test_a_batch_becomes_rows_named_by_the_topic_not_the_body() -> None:
    batch = read_batch(
        "omo/v1",
        TOPIC,
        payload(event(), event(id="e-2", type="impression", visitor=None, dwell_ms=None)),
    )
    assert (batch.store_id, batch.device_id, batch.batch_id) == ("store-1", "screen-1", "b-1")
    first, second = batch.rows
    assert (first.type, first.visitor, first.dwell_ms, first.clock_synced) == (
        "visit.exit",
        "h1:5e0c",
        42000,
        True,
    )
    assert json.loads(first.body)["zone"] == "near"  # the whole event is kept
    assert (second.visitor, second.dwell_ms) == (None, None)
    assert batch.ack_topic_suffix == "store-1/screen-1/events/ack"


@pytest.mark.parametrize(
    ("topic", "body", "words"),
    [
        ("omo/v1/store-1/events", payload(event()), "is not omo/v1/STORE/DEVICE/events"),
        ("other/store-1/screen-1/events", payload(event()), "is not omo/v1"),
        (TOPIC, b"\xff{", "not JSON"),
        (TOPIC, b"[1]", "not a JSON object"),
        (TOPIC, json.dumps({"events": [event()]}).encode(), "batch_id"),
        (TOPIC, payload(), "non-empty list"),
        (TOPIC, payload(event(id="")), "events[0].id"),
        (TOPIC, payload(event(id="x" * 200)), "longer than 128"),
        (TOPIC, payload(event(ts=1.5)), "events[0].ts"),
        (TOPIC, payload(event(ts=True)), "events[0].ts"),
        (TOPIC, payload(event(), event(type=None)), "events[1].type"),
        (TOPIC, payload(event(visitor=7)), "events[0].visitor"),
        (TOPIC, payload(["not", "an", "object"]), "events[0] is not an object"),  # type: ignore[arg-type]
    ],
)
def test_what_is_not_a_batch_is_refused_in_words(topic: str, body: bytes, words: str) -> None:
    with pytest.raises(BatchRejected, match=words.replace("[", r"\[").replace("]", r"\]")):
        read_batch("omo/v1", topic, body)


@given(st.binary(max_size=300))
def test_any_bytes_are_a_batch_or_a_refusal_never_a_crash(data: bytes) -> None:
    with contextlib.suppress(BatchRejected):
        read_batch("omo/v1", TOPIC, data)


def test_the_shared_subscription_and_the_erased_form() -> None:
    assert shared("omo-ingest", "omo/v1/+/+/events") == "$share/omo-ingest/omo/v1/+/+/events"
    digest = visitor_digest("member-7")
    assert len(digest) == 64 and "member-7" not in digest
