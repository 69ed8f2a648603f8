"""Store hours, pure: the right local times across a DST change, exceptions, ranges that end
after midnight, and an override that wins until it ends."""

from __future__ import annotations

import datetime as dt

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from edge.panel.schedule import (
    Override,
    Schedule,
    ScheduleError,
    parse_ranges,
    plan,
    valid_exceptions,
    valid_hours,
)
from tests.support.examples import examples

BERLIN = {"mon": "09:00-21:00", "tue": "09:00-21:00", "wed": "09:00-21:00"}
WEEK = {day: "09:00-21:00" for day in ("mon", "tue", "wed", "thu", "fri", "sat", "sun")}


def ms(iso: str) -> int:
    return int(dt.datetime.fromisoformat(iso).timestamp() * 1000)


def test_opening_follows_local_time_across_the_spring_dst_change() -> None:
    s = Schedule.from_config(WEEK, {}, "Europe/Berlin")
    # Saturday 28 March 2026, CET (UTC+1): opens 08:00Z
    assert not s.open_at(ms("2026-03-28T07:59:00+00:00"))
    assert s.open_at(ms("2026-03-28T08:00:00+00:00"))
    assert s.open_at(ms("2026-03-28T19:59:00+00:00"))
    assert not s.open_at(ms("2026-03-28T20:00:00+00:00"))
    # Sunday 29 March 2026, CEST (UTC+2) since 01:00Z: opens 07:00Z, closes 19:00Z
    assert not s.open_at(ms("2026-03-29T06:59:00+00:00"))
    assert s.open_at(ms("2026-03-29T07:00:00+00:00"))
    assert s.open_at(ms("2026-03-29T18:59:00+00:00"))
    assert not s.open_at(ms("2026-03-29T19:00:00+00:00"))


def test_opening_follows_local_time_across_the_autumn_dst_change() -> None:
    s = Schedule.from_config(WEEK, {}, "Europe/Berlin")
    assert s.open_at(ms("2026-10-24T07:00:00+00:00"))  # CEST: 09:00 local
    assert not s.open_at(ms("2026-10-25T07:00:00+00:00"))  # CET: 08:00 local
    assert s.open_at(ms("2026-10-25T08:00:00+00:00"))


def test_an_exception_replaces_the_day_and_an_unlisted_day_is_closed() -> None:
    s = Schedule.from_config(
        BERLIN, {"2026-12-22": "closed", "2026-12-24": "10:00-14:00"}, "Europe/Berlin"
    )
    assert s.open_at(ms("2026-12-21T12:00:00+01:00"))  # a Monday
    assert not s.open_at(ms("2026-12-22T12:00:00+01:00"))  # Tuesday, closed that day
    assert s.open_at(ms("2026-12-24T13:59:00+01:00"))  # Thursday, opened by the exception
    assert not s.open_at(ms("2026-12-24T14:00:00+01:00"))
    assert not s.open_at(ms("2026-12-26T12:00:00+01:00"))  # Saturday is not listed


def test_a_range_past_midnight_keeps_the_panel_on_into_the_next_day() -> None:
    s = Schedule.from_config({"fri": "18:00-02:00"}, {}, "Asia/Tokyo")
    assert s.open_at(ms("2026-12-04T23:30:00+09:00"))  # Friday night
    assert s.open_at(ms("2026-12-05T01:59:00+09:00"))  # Saturday early morning
    assert not s.open_at(ms("2026-12-05T02:00:00+09:00"))
    assert not s.open_at(ms("2026-12-04T17:59:00+09:00"))


def test_no_hours_is_always_on() -> None:
    s = Schedule.from_config({}, {}, "")
    assert s.always_on and s.open_at(0) and s.open_at(ms("2026-12-25T03:00:00+00:00"))


@settings(max_examples=examples(100), deadline=None)
@given(st.integers(0, 2**41), st.integers(0, 10**8), st.sampled_from(["on", "off"]))
def test_the_override_wins_until_it_ends(now: int, lasts: int, power: str) -> None:
    closed = Schedule.from_config({"mon": "closed"}, {}, "UTC")  # closed all week
    override = Override("on" if power == "on" else "off", now + lasts + 1)
    during = plan(closed, override, now + lasts)
    assert (during.power, during.by, during.until_ms) == (power, "override", now + lasts + 1)
    after = plan(closed, override, now + lasts + 1)
    assert (after.power, after.by) == ("off", "schedule")
    assert plan(closed, Override(override.power, None), now).by == "override"  # until auto


@pytest.mark.parametrize("bad", ["9-17", "25:00-26:00", "09:00-09:00", "09:60-10:00", "x"])
def test_bad_ranges_are_refused(bad: str) -> None:
    with pytest.raises(ScheduleError):
        parse_ranges(bad)
    assert not valid_hours({"mon": bad})
    assert not valid_exceptions({"2026-12-24": bad})


def test_config_checks() -> None:
    assert valid_hours({"sun": "closed", "mon": "00:00-24:00, 08:00-09:00"})
    assert not valid_hours({"monday": "09:00-17:00"})
    assert not valid_exceptions({"24.12.2026": "closed"})
    assert not valid_exceptions({"2026-02-30": "closed"})
