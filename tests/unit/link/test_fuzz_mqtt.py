"""Fuzz: every MQTT payload the device takes, alone (schemas) and through the daemon's
inbox routing with its real collaborators (no broker): handled, or PayloadRejected
(which the inbox counts and acknowledges), never another exception.
"""

from __future__ import annotations

import json
import random
from collections.abc import Iterator

import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from edge.errors import PayloadRejected
from edge.link.schemas import Command, Decision, parse
from tests.support import fuzz_targets as ft
from tests.support.examples import examples

FUZZ = settings(max_examples=examples(150), deadline=None)
INBOX = settings(
    max_examples=examples(150),
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)

json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=20),
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=10), inner, max_size=4)
    ),
    max_leaves=20,
)
kinds = st.sampled_from(sorted(ft.KINDS))
DEEP = b"[" * 5000 + b"]" * 5000


@pytest.fixture(scope="module")
def inbox(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ft.InboxTarget]:
    target = ft.InboxTarget(tmp_path_factory.mktemp("inbox"))
    yield target
    target.close()


@FUZZ
@given(kinds, st.randoms(use_true_random=False))
def test_mutated_payloads_decode_or_are_rejected(kind: str, rng: random.Random) -> None:
    ft.payload_target(kind, ft.gen_payload(kind, rng))


@FUZZ
@given(kinds, st.binary(max_size=300) | json_values.map(lambda v: json.dumps(v).encode()))
@example(
    "command", b'{"cmd_id": "c", "cmd": "reload", "expires_ts": 1, "args": {"a": ' + DEEP + b"}}"
)
@example("decision", b'{"request_id": "r", "visitor": "v", "show_ms": 1, "x": ' + DEEP + b"}")
def test_random_payloads_decode_or_are_rejected(kind: str, payload: bytes) -> None:
    ft.payload_target(kind, payload)


@FUZZ
@given(
    st.sampled_from(
        [
            "#f2aa4 ",
            "#1_2345",
            "#+12345",
            "# 12345",
            "#\uff11\uff12\uff13\uff14\uff15\uff16",
            "#abc",
        ]
    )
)
def test_a_slide_colour_pygame_cannot_read_is_rejected(colour: str) -> None:
    """Found by fuzzing: int(x, 16) let these through, and the painter's pygame.Color
    raised on them; a decision or manifest slide could stop the screen."""
    body = dict(ft.templates()["decision"], slide=dict(ft.SLIDE, accent=colour))
    with pytest.raises(PayloadRejected, match="accent"):
        parse("t", json.dumps(body).encode(), Decision)


def test_deeply_nested_payload_is_rejected_not_raised() -> None:
    """Found by fuzzing: msgspec's RecursionError escaped parse() and ended the inbox task."""
    payload = b'{"cmd_id": "c", "cmd": "reload", "expires_ts": 1, "args": {"a": ' + DEEP + b"}}"
    with pytest.raises(PayloadRejected, match="nested too deeply"):
        parse("P/cmd", payload, Command)


def test_a_timestamp_sqlite_cannot_store_is_rejected_not_raised() -> None:
    """Found by fuzzing: an expires_ts over 2**63 overflowed the commands table."""
    payload = b'{"cmd_id": "c", "cmd": "reload", "expires_ts": 59878171924064400584}'
    with pytest.raises(PayloadRejected):
        parse("P/cmd", payload, Command)


@INBOX
@given(st.randoms(use_true_random=False))
def test_inbox_handles_or_rejects_any_message(inbox: ft.InboxTarget, rng: random.Random) -> None:
    inbox(*ft.gen_message(rng, inbox.topics))


@INBOX
@given(st.sampled_from(range(7)), st.binary(max_size=200), st.binary(max_size=16) | st.none())
def test_inbox_handles_or_rejects_random_bytes_on_every_topic(
    inbox: ft.InboxTarget, which: int, payload: bytes, correlation: bytes | None
) -> None:
    topic = [*inbox.topics.subscriptions()[:6], f"{inbox.topics.base}/asset/{'0' * 64}"][which]
    inbox(topic, payload, correlation)


def test_inbox_accepts_the_real_messages(inbox: ft.InboxTarget) -> None:
    """The generators start from messages the daemon takes (else the fuzzing is blind)."""
    t, tpl = inbox.topics, ft.templates()
    before = inbox.status()["pending"] + inbox.status()["inflight"]
    for topic, body in ((t.checkin, tpl["checkin"]), (t.events_ack, tpl["events_ack"])):
        assert inbox(topic, json.dumps(body).encode()) == ft.ACCEPTED
    status = inbox.status()
    assert status["pending"] + status["inflight"] == before + 1  # the check-in was committed
    image = ft.PNG + b"only in this test"  # not among the fuzzed assets
    doc = ft.manifest_doc(version=10**7, asset=image)
    sha, stored = doc["assets"]["a.png"], inbox.state_dir / "assets"
    for data, kept in ((image + b"x", False), (image, True)):
        assert inbox(t.store_manifest, ft.sign(doc, ft.SEED_B64, ft.KID)) == ft.ACCEPTED
        assert inbox(f"{t.base}/asset/{sha}", data) == ft.ACCEPTED  # handled (refused or kept)
        assert (stored / sha).exists() == kept
