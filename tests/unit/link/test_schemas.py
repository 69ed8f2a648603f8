"""Payloads from central: valid ones parse, everything else is PayloadRejected naming the topic."""

from __future__ import annotations

import json
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from edge.content.slides import Slide
from edge.errors import PayloadRejected
from edge.link.schemas import MAX_PAYLOAD, Decision, EventsAck, parse
from edge.link.topics import Topics
from tests.support.examples import examples

TOPICS = Topics("omo/v1", "store-12", "edge-01")
DECISION_TOPIC = TOPICS.decision
ACK_TOPIC = TOPICS.events_ack

SLIDE = {
    "id": "coupon-7",
    "kind": "coupon",
    "duration_ms": 8000,
    "title": "10% off",
    "body": "today only",
    "code": "TEN",
}


def decision(**overrides: Any) -> dict[str, Any]:
    obj: dict[str, Any] = {
        "request_id": "req-1",
        "visitor": "ibeacon:f7826da6-4fa2-4e98-8024-bc5b71e0893e:1:2",
        "show_ms": 6000,
        "ttl_ms": 60000,
        "slide": SLIDE,
        "content_id": "content-7",
        "campaign_id": "camp-3",
        "variant": "B",
    }
    obj.update(overrides)
    return obj


def raw(obj: Any) -> bytes:
    return json.dumps(obj).encode()


def test_topics_match_protocol() -> None:
    assert TOPICS.decision == "omo/v1/store-12/edge-01/decision"
    assert TOPICS.events_ack == "omo/v1/store-12/edge-01/events/ack"
    assert TOPICS.events == "omo/v1/store-12/edge-01/events"
    assert TOPICS.store == "omo/v1/store-12/_store"


def test_decision_parses() -> None:
    d = parse(DECISION_TOPIC, raw(decision()), Decision)
    assert d.request_id == "req-1"
    assert d.visitor == "ibeacon:f7826da6-4fa2-4e98-8024-bc5b71e0893e:1:2"
    assert d.show_ms == 6000
    assert d.ttl_ms == 60000
    assert isinstance(d.slide, Slide)
    assert d.slide.id == "coupon-7"
    assert d.slide.code == "TEN"
    assert (d.content_id, d.campaign_id, d.variant) == ("content-7", "camp-3", "B")


def test_decision_with_null_slide_means_nothing_personal() -> None:
    d = parse(DECISION_TOPIC, raw(decision(slide=None, campaign_id=None, variant=None)), Decision)
    assert d.slide is None
    assert d.campaign_id is None and d.variant is None


def test_unknown_fields_are_ignored() -> None:
    payload = decision(future_field={"x": [1, 2]}, slide=dict(SLIDE, animation="fade"))
    d = parse(DECISION_TOPIC, raw(payload), Decision)
    assert d.request_id == "req-1"
    assert d.slide is not None and d.slide.id == "coupon-7"
    ack = parse(ACK_TOPIC, raw({"batch_id": "b-1", "stored_at": 123}), EventsAck)
    assert ack.batch_id == "b-1"


def test_events_ack_parses() -> None:
    assert (
        parse(
            ACK_TOPIC, b'{"batch_id": "0190a1b2-c3d4-7e5f-8a9b-0c1d2e3f4a5b"}', EventsAck
        ).batch_id
        == "0190a1b2-c3d4-7e5f-8a9b-0c1d2e3f4a5b"
    )


def rejected(topic: str, payload: bytes, kind: type[Any]) -> PayloadRejected:
    with pytest.raises(PayloadRejected) as info:
        parse(topic, payload, kind)
    assert info.value.topic == topic
    assert topic in str(info.value)
    assert info.value.reason
    return info.value


@pytest.mark.parametrize(
    "payload",
    [
        b"",
        b"\x00\xff\xfe garbage",
        b"not json",
        b'{"request_id": "req-1"',  # truncated
        b"[]",
        b"null",
        b'"decision"',
    ],
)
def test_garbage_is_rejected(payload: bytes) -> None:
    rejected(DECISION_TOPIC, payload, Decision)
    rejected(ACK_TOPIC, payload, EventsAck)


@pytest.mark.parametrize(
    "payload",
    [
        decision(show_ms="6000"),
        decision(show_ms=6.5),
        decision(show_ms=True),
        decision(request_id=7),
        decision(visitor=None),
        decision(ttl_ms="long"),
        decision(slide="coupon-7"),
        decision(slide=dict(SLIDE, kind="hologram")),
        decision(slide=dict(SLIDE, duration_ms=10)),
        decision(campaign_id=3),
        {k: v for k, v in decision().items() if k != "request_id"},
        {k: v for k, v in decision().items() if k != "show_ms"},
    ],
)
def test_wrong_types_and_missing_fields_are_rejected(payload: dict[str, Any]) -> None:
    rejected(DECISION_TOPIC, raw(payload), Decision)


@pytest.mark.parametrize(
    "payload",
    [decision(show_ms=-1), decision(show_ms=3_600_001), decision(ttl_ms=-5)],
)
def test_out_of_range_values_are_rejected(payload: dict[str, Any]) -> None:
    err = rejected(DECISION_TOPIC, raw(payload), Decision)
    assert "_ms" in err.reason  # says which value is wrong


@pytest.mark.parametrize("payload", [{}, {"batch_id": 12}, {"batch_id": None}, {"id": "b"}])
def test_bad_acks_are_rejected(payload: dict[str, Any]) -> None:
    rejected(ACK_TOPIC, raw(payload), EventsAck)


def test_oversize_payload_is_rejected_even_if_valid() -> None:
    def padded(total: int) -> bytes:
        base = raw(decision(pad=""))
        return raw(decision(pad="x" * (total - len(base))))

    assert len(padded(MAX_PAYLOAD)) == MAX_PAYLOAD
    assert parse(DECISION_TOPIC, padded(MAX_PAYLOAD), Decision).request_id == "req-1"
    err = rejected(DECISION_TOPIC, padded(MAX_PAYLOAD + 1), Decision)
    assert str(MAX_PAYLOAD) in err.reason


@settings(max_examples=examples(200), deadline=None)
@given(payload=st.binary(max_size=300))
def test_random_bytes_are_rejected_or_parsed_never_crash(payload: bytes) -> None:
    for topic, kind in ((DECISION_TOPIC, Decision), (ACK_TOPIC, EventsAck)):
        try:
            parse(topic, payload, kind)
        except PayloadRejected as exc:
            assert exc.topic == topic


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=10),
    lambda inner: (
        st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=8), inner, max_size=3)
    ),
    max_leaves=10,
)


@settings(max_examples=examples(200), deadline=None)
@given(field=st.sampled_from(sorted(decision())), value=json_values)
def test_any_field_value_parses_or_is_rejected(field: str, value: Any) -> None:
    try:
        d = parse(DECISION_TOPIC, raw(decision(**{field: value})), Decision)
    except PayloadRejected as exc:
        assert exc.topic == DECISION_TOPIC
        return
    # Whatever was accepted obeys the contract.
    assert isinstance(d.request_id, str) and isinstance(d.visitor, str)
    assert isinstance(d.show_ms, int) and 0 <= d.show_ms <= 3_600_000
    assert d.ttl_ms >= 0
    assert d.slide is None or isinstance(d.slide, Slide)
