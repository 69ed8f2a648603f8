"""Fuzz: LAN check-in requests and bodies, visitor tokens, QR nonces and the QR URL.
A request gets one of the documented statuses; only a validly signed token checks in;
a nonce is "ok" only once and only if it was shown."""

from __future__ import annotations

import random
from collections.abc import Iterator
from urllib.parse import parse_qs, urlsplit

import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from edge.checkin.nonces import qr_url
from tests.support import fuzz_targets as ft
from tests.support.examples import examples

FUZZ = settings(max_examples=examples(200), deadline=None)
SHARED = settings(
    max_examples=examples(200),
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)


@pytest.fixture(scope="module")
def endpoint() -> Iterator[ft.LanTarget]:
    target = ft.LanTarget()
    yield target
    target.close()


@SHARED
@given(st.randoms(use_true_random=False))
def test_mutated_lan_requests_get_a_documented_answer(
    endpoint: ft.LanTarget, rng: random.Random
) -> None:
    endpoint(ft.gen_lan_request(rng))


@SHARED
@given(st.binary(max_size=300))
def test_random_bytes_get_a_documented_answer(endpoint: ft.LanTarget, raw: bytes) -> None:
    endpoint(raw + b"\r\n\r\n")


@SHARED
@given(st.binary(max_size=300))
@example(b'{"nonce": "abcdefgh", "token": ' + b"[" * 5000 + b"]" * 5000 + b"}")
def test_random_bodies_get_a_documented_answer(endpoint: ft.LanTarget, body: bytes) -> None:
    ft.lan_body_target(body)
    endpoint(ft.lan_request(body))


def test_a_good_request_checks_in(endpoint: ft.LanTarget) -> None:
    """The generators start from a request the device takes (else the fuzzing is blind)."""
    rng = random.Random(3)
    token = ft.good_token()
    assert ft.token_target(token) == ft.ACCEPTED
    body = ft.dumps({"nonce": "abcdefgh1234", "token": token}, rng)
    assert endpoint(ft.lan_request(body)) == ft.ACCEPTED
    assert endpoint.checkins[-1] == ("h1:visitor", "abcdefgh1234")


@FUZZ
@given(st.randoms(use_true_random=False))
def test_mutated_tokens_verify_only_when_signed(rng: random.Random) -> None:
    ft.token_target(ft.gen_token(rng))


@FUZZ
@given(st.text(max_size=200))
def test_random_text_is_never_a_token(text: str) -> None:
    assert ft.token_target(text) == ft.REJECTED


@FUZZ
@given(st.randoms(use_true_random=False))
def test_only_a_shown_nonce_is_ok_and_only_once(rng: random.Random) -> None:
    target = ft.NonceTarget()
    for _ in range(10):
        target(*ft.gen_nonce(rng, target))


@FUZZ
@given(st.text(max_size=40), st.floats(0, 1e6))
def test_random_nonces_are_refused(nonce: str, later: float) -> None:
    assert ft.NonceTarget()(nonce, later) == ft.REJECTED


@FUZZ
@given(
    st.randoms(use_true_random=False)
    | st.tuples(st.text(max_size=40).map("https://omo.example/".__add__), st.text(), st.text())
)
@example(("https://omo.example/c?e/c?", "screen-1", "AbCdEfGh"))
def test_qr_url_carries_device_and_nonce_or_is_refused(
    case: random.Random | tuple[str, str, str],
) -> None:
    ft.qr_target(*(ft.gen_qr(case) if isinstance(case, random.Random) else case))


def test_qr_url_of_a_base_whose_query_ends_in_a_question_mark() -> None:
    """Found by fuzzing: "?e/c?" + "d=..." made one parameter "e/c?d", losing the device id."""
    url = qr_url("https://omo.example/c?e/c?", "screen-1", "AbCdEfGh")
    assert parse_qs(urlsplit(url).query)["d"] == ["screen-1"]
