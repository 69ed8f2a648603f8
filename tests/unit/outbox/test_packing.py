"""How events are packed into the outbox's rows: pure, so checked on their own."""

from __future__ import annotations

import json

from hypothesis import given, settings
from hypothesis import strategies as st

from edge.outbox import packing
from tests.support.examples import examples

texts = st.lists(
    st.builds(
        lambda n, note: packing.text({"id": f"e{n}", "type": "impression", "ts": n, "note": note}),
        st.integers(0, 10**12),
        st.text(max_size=300),
    ),
    max_size=40,
)


@settings(max_examples=examples(200), deadline=None)
@given(texts=texts, max_events=st.integers(1, 8), max_bytes=st.integers(50, 2000))
def test_batches_keep_every_event_in_order_within_both_limits(
    texts: list[str], max_events: int, max_bytes: int
) -> None:
    cut = list(packing.batches(texts, max_events, max_bytes))
    assert [t for batch in cut for t in batch] == texts
    for batch in cut:
        assert 1 <= len(batch) <= max_events
        size = sum(len(t.encode()) for t in batch)
        assert size <= max_bytes or len(batch) == 1  # one event too big still goes, alone


@settings(max_examples=examples(100), deadline=None)
@given(texts=texts.filter(bool))
def test_a_row_gives_back_exactly_its_events(texts: list[str]) -> None:
    row = packing.pack(texts)
    assert packing.unpack(row.body) == texts
    assert row.events == len(texts)
    assert row.size == sum(len(t.encode()) for t in texts)
    assert (row.first_ts, row.last_ts) == (
        min(json.loads(t)["ts"] for t in texts),
        max(json.loads(t)["ts"] for t in texts),
    )


def test_a_row_counts_low_value_and_unsynchronised_events() -> None:
    events = [
        {"id": "a", "type": "visit.dwell", "ts": 5, "clock_synced": True},
        {"id": "b", "type": "device.health", "ts": 3, "clock_synced": False},
        {"id": "c", "type": "checkin", "ts": 9},
    ]
    row = packing.pack([packing.text(e) for e in events])
    assert (row.low_value, row.unsynced, row.first_ts, row.last_ts) == (2, 2, 3, 9)


def test_a_busy_stores_events_are_stored_in_a_fraction_of_their_bytes() -> None:
    events = [
        {
            "id": f"01a23d6a-98d8-7279-9eba-c6a3be57f{n:03x}",
            "type": "approach.enter",
            "ts": 1_796_000_000_000 + n * 1000,
            "clock_synced": True,
            "visitor": f"h1:{n:064x}",
            "visit_id": f"01a23d6a-96a1-759b-bfcf-64034ce38{n:03x}",
            "zone": "near",
            "rssi": -61,
        }
        for n in range(60)
    ]
    row = packing.pack([packing.text(e) for e in events])
    assert len(row.body) < row.size / 3


def test_the_payload_is_the_protocols_batch() -> None:
    items = [packing.text({"id": "a", "type": "checkin", "ts": 1, "note": "café\u2028"})]
    body = json.loads(packing.payload("b-1", "dev-1", items))
    assert body == {
        "batch_id": "b-1",
        "device_id": "dev-1",
        "events": [{"id": "a", "type": "checkin", "ts": 1, "note": "café\u2028"}],
    }
