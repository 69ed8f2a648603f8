"""Fuzz: replay trace lines are an Advert that round-trips, blank, or a TraceLineError."""

from __future__ import annotations

import random

import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

from edge.errors import TraceLineError
from edge.presence.trace import parse_line
from tests.support import fuzz_targets as ft
from tests.support.examples import examples

FUZZ = settings(max_examples=examples(200), deadline=None)


@FUZZ
@given(st.randoms(use_true_random=False))
def test_mutated_trace_lines_parse_or_are_rejected(rng: random.Random) -> None:
    ft.trace_target(ft.gen_trace_line(rng))


@FUZZ
@given(st.text(max_size=200))
@example('{"t": 1, "rssi": -50, "service_uuids": ' + "[" * 5000 + "]" * 5000 + "}")
@example('{"t": 1, "rssi": -50, "manufacturer_data": {"70000": "0215"}}')
def test_random_text_lines_parse_or_are_rejected(line: str) -> None:
    ft.trace_target(line)


def test_deeply_nested_line_is_a_trace_line_error() -> None:
    """Found by fuzzing: json.loads raised RecursionError, which ended the replay."""
    with pytest.raises(TraceLineError, match="nested too deeply"):
        parse_line("[" * 100_000, 3)


@pytest.mark.parametrize("company", ["-5", "65536", "99999999"])
def test_company_id_outside_16_bits_is_a_trace_line_error(company: str) -> None:
    """Found by fuzzing: any integer was taken as a company id."""
    line = f'{{"t": 1, "rssi": -50, "manufacturer_data": {{"{company}": "00"}}}}'
    with pytest.raises(TraceLineError, match="16-bit company id"):
        parse_line(line, 1)
