"""Fuzz: pairing frames from a stranger are rejected cleanly and never unlock a CSR or bundle."""

from __future__ import annotations

import random

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tests.support import fuzz_targets as ft
from tests.support.examples import examples

FUZZ = settings(max_examples=examples(150), deadline=None)


@FUZZ
@given(st.randoms(use_true_random=False))
def test_mutated_and_replayed_exchanges_are_rejected(rng: random.Random) -> None:
    ft.pairing_target(ft.gen_pairing(rng))


@FUZZ
@given(st.binary(max_size=300))
def test_random_bytes_are_rejected(data: bytes) -> None:
    assert ft.pairing_target(data) == ft.REJECTED or data == b""


def test_an_unmutated_recorded_exchange_is_parsed_and_still_refused() -> None:
    """The control: the frames parse (so fuzzing reaches the sessions), yet the replay
    is refused where it matters (the ops side rejects the recorded device answer)."""
    data = b"".join(ft.real_pairing_frames())
    assert ft.pairing_target(data) == ft.REJECTED
    hello_confirm = ft.real_pairing_frames()[0] + ft.real_pairing_frames()[2]
    assert ft.pairing_target(hello_confirm) == ft.ACCEPTED  # parsed, confirm refused (None)


def test_deeply_nested_or_invalid_utf8_frames_are_frame_errors() -> None:
    """Found by fuzzing: msgspec raised RecursionError and UnicodeDecodeError, which
    escaped the pairing session instead of refusing the frame."""
    from edge.provision import pairing

    for body in (b"[" * 100_000, b'{"t":"confirm","confirm":"\xff\xfe"}'):
        with pytest.raises(pairing.FrameError):
            pairing.parse(body)
