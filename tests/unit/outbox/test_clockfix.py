"""The pure clock correction: which events are corrected, to what, and which never are."""

from __future__ import annotations

from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from edge.outbox.clockfix import Clocks, corrected, offset_ms, stamp
from tests.support.examples import examples

BOOT = "64a42c6d-b3ed-4212-bac4-a337ff4f84d3"
OTHER_BOOT = "0b0e2a5d-0000-4000-8000-000000000000"

ms = st.integers(min_value=0, max_value=2**41)


def event_at(clocks: Clocks) -> dict[str, Any]:
    return {"id": "e", "type": "visit.enter", **stamp(clocks)}


@settings(max_examples=examples(100), deadline=None)
@given(wrong_wall=ms, boot_ms=ms, true_wall=ms, later=st.integers(0, 10**9))
def test_an_unsynced_event_gets_the_time_it_really_happened(
    wrong_wall: int, boot_ms: int, true_wall: int, later: int
) -> None:
    before = event_at(Clocks(wrong_wall, False, BOOT, boot_ms))
    # synchronisation arrives `later` ms after the event, the wall clock now true
    sync = Clocks(true_wall + later, True, BOOT, boot_ms + later)
    fixed = corrected(before, BOOT, offset_ms(sync))
    assert fixed is not None
    assert fixed["ts"] == max(0, true_wall)
    assert fixed["clock_corrected"] is True
    assert fixed["clock_synced"] is False  # what the clock was when it was taken
    assert fixed["mono_ms"] == boot_ms and fixed["boot_id"] == BOOT


@settings(max_examples=examples(100), deadline=None)
@given(wall=ms, boot_ms=ms, offset=st.integers(-(2**40), 2**41))
def test_synced_corrected_or_other_boot_events_are_left_alone(
    wall: int, boot_ms: int, offset: int
) -> None:
    synced = event_at(Clocks(wall, True, BOOT, boot_ms))
    assert "boot_id" not in synced and "mono_ms" not in synced
    assert corrected(synced, BOOT, offset) is None
    other = event_at(Clocks(wall, False, OTHER_BOOT, boot_ms))
    assert corrected(other, BOOT, offset) is None
    once = corrected(event_at(Clocks(wall, False, BOOT, boot_ms)), BOOT, offset)
    assert once is not None
    assert corrected(once, BOOT, offset + 1) is None  # never corrected twice


@settings(max_examples=examples(100), deadline=None)
@given(wall=ms, boot_ms=ms, offset=st.integers(-(2**42), 2**42))
def test_a_corrected_time_is_never_negative(wall: int, boot_ms: int, offset: int) -> None:
    fixed = corrected(event_at(Clocks(wall, False, BOOT, boot_ms)), BOOT, offset)
    assert fixed is not None and fixed["ts"] >= 0
