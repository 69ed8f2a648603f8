"""Which log lines a `logs` request gets and how they are cut into results."""

from __future__ import annotations

import logging

from hypothesis import given, settings
from hypothesis import strategies as st

from edge.logring import LINE_MAX_CHARS, TOTAL_BYTES, Line, LogRing, select, split
from tests.support.examples import examples

texts = st.lists(st.text(min_size=0, max_size=300), max_size=200)


@settings(max_examples=examples(100), deadline=None)
@given(texts, st.integers(1, 5000))
def test_parts_keep_every_line_in_order_and_stay_under_the_size(
    lines: list[str], part_bytes: int
) -> None:
    parts = split(lines, part_bytes)
    assert [line for part in parts for line in part] == lines
    assert parts == [[]] or all(parts)
    for part in parts:
        size = sum(len(line.encode()) + 1 for line in part)
        assert size <= part_bytes or len(part) == 1  # a single huge line is its own part


@settings(max_examples=examples(100), deadline=None)
@given(st.lists(st.integers(0, 10**6), max_size=300), st.integers(1, 400), st.integers(0, 10**6))
def test_select_takes_the_newest_lines_since(stamps: list[int], count: int, since: int) -> None:
    lines = [Line(ts, f"line {i}") for i, ts in enumerate(stamps)]
    chosen = select(lines, count, since)
    expected = [line.text for line in lines if line.ts_ms >= since][-count:]
    assert chosen == expected


def test_huge_lines_are_cut_and_the_total_is_capped() -> None:
    lines = [Line(0, "y" * 10_000) for _ in range(1000)]
    chosen = select(lines, 1000)
    assert all(len(line) == LINE_MAX_CHARS for line in chosen)
    assert sum(len(line.encode()) + 1 for line in chosen) <= TOTAL_BYTES
    assert len(chosen) < 1000


def test_the_ring_redacts_and_keeps_only_the_newest() -> None:
    ring = LogRing(kept=3)
    logger = logging.getLogger("edge.test.ring")
    logger.setLevel(logging.INFO)
    logger.addHandler(ring)
    try:
        for n in range(5):
            logger.info("line %d from 00:11:22:33:44:%02d", n, n)
    finally:
        logger.removeHandler(ring)
    texts = [line.text for line in ring.snapshot()]
    assert len(texts) == 3 and texts[0].endswith("line 2 from [mac]")
