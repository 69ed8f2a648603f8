"""Schedule windows: examples, DST changes, and properties of `playing` and `next_change`."""

from __future__ import annotations

import re
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

import msgspec
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from edge.content.schedule import Window, is_open, next_change, playing
from edge.content.slides import Slide, make_slide
from edge.errors import plain
from tests.support.examples import examples

BERLIN = ZoneInfo("Europe/Berlin")
NEW_YORK = ZoneInfo("America/New_York")
TOKYO = ZoneInfo("Asia/Tokyo")
ZONES = [BERLIN, NEW_YORK, TOKYO, ZoneInfo("Australia/Lord_Howe")]  # Lord Howe: 30-min DST

BASE, A, B, C = (make_slide(id=i, kind="text", title=i) for i in ("base", "a", "b", "c"))
PLAYLIST = (BASE, A, B, C)


def window(
    start: str,
    end: str,
    *,
    days: tuple[int, ...] = (1, 2, 3, 4, 5, 6, 7),
    slides: tuple[str, ...] = ("a",),
    priority: int = 0,
    from_date: str | None = None,
    to_date: str | None = None,
) -> Window:
    return Window(
        slides=list(slides),
        days=list(days),
        start=start,
        end=end,
        from_date=from_date,
        to_date=to_date,
        priority=priority,
    )


def at(tz: ZoneInfo, text: str, fold: int = 0) -> datetime:
    """A local wall-clock time as an aware UTC datetime."""
    return datetime.fromisoformat(text).replace(tzinfo=tz, fold=fold).astimezone(UTC)


def utc(text: str) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=UTC)


def ids(slides: tuple[Slide, ...]) -> list[str]:
    return [s.id for s in slides]


# ---- validation ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("fields", "words"),
    [
        ({"start": "9:00"}, r"regex.*at start"),
        ({"start": "24:00"}, r"regex.*at start"),
        ({"end": "12:60"}, r"regex.*at end"),
        ({"end": "12:00:00"}, r"regex.*at end"),
        ({"days": [0]}, r">= 1 \(at days\[0\]"),
        ({"days": [8]}, r"<= 7 \(at days\[0\]"),
        ({"days": []}, r"length >= 1 \(at days"),
        ({"slides": []}, r"length >= 1 \(at slides"),
        ({"from_date": "2025-13-01"}, "YYYY-MM-DD"),
        ({"from_date": "20250101"}, r"regex.*at from_date"),
        ({"to_date": "2025-02-29"}, "YYYY-MM-DD"),
        ({"from_date": "2025-06-02", "to_date": "2025-06-01"}, "after"),
    ],
)
def test_bad_window_says_what_is_wrong(fields: dict[str, object], words: str) -> None:
    """As a manifest is read: refused, naming the field (the schema says the same)."""
    raw = {"slides": ["a"], "days": [1], "start": "09:00", "end": "10:00"} | fields
    with pytest.raises(msgspec.ValidationError) as info:
        msgspec.convert(raw, Window)
    assert re.search(words, plain(info.value)), plain(info.value)


def test_window_from_json_defaults() -> None:
    w = msgspec.convert({"slides": ["a"], "days": [1], "start": "09:00", "end": "10:00"}, Window)
    assert (w.from_date, w.to_date, w.priority) == (None, None, 0)


# ---- examples -----------------------------------------------------------------------------


def test_open_window_plays_its_slides_in_window_order() -> None:
    w = window("09:00", "12:00", days=(1,), slides=("c", "a"))  # 2025-06-02 is a Monday
    assert ids(playing(PLAYLIST, [w], TOKYO, at(TOKYO, "2025-06-02T10:00"), True)) == ["c", "a"]
    assert playing(PLAYLIST, [w], TOKYO, at(TOKYO, "2025-06-02T08:59"), True) == PLAYLIST
    assert ids(playing(PLAYLIST, [w], TOKYO, at(TOKYO, "2025-06-02T09:00"), True)) == ["c", "a"]
    assert playing(PLAYLIST, [w], TOKYO, at(TOKYO, "2025-06-02T12:00"), True) == PLAYLIST
    assert playing(PLAYLIST, [w], TOKYO, at(TOKYO, "2025-06-03T10:00"), True) == PLAYLIST


def test_before_clock_sync_the_playlist_plays() -> None:
    w = window("00:00", "00:00")
    assert playing(PLAYLIST, [w], TOKYO, at(TOKYO, "2025-06-02T10:00"), False) == PLAYLIST


def test_highest_priority_wins_and_ties_go_to_the_first() -> None:
    now = at(TOKYO, "2025-06-02T10:00")
    low, high = window("09:00", "12:00", slides=("a",)), window("10:00", "11:00", slides=("b",))
    tie = window("08:00", "20:00", slides=("c",), priority=1)
    high = window("10:00", "11:00", slides=("b",), priority=1)
    assert ids(playing(PLAYLIST, [low, high], TOKYO, now, True)) == ["b"]
    assert ids(playing(PLAYLIST, [low, high, tie], TOKYO, now, True)) == ["b"]
    assert ids(playing(PLAYLIST, [low, tie, high], TOKYO, now, True)) == ["c"]


def test_window_spanning_midnight_belongs_to_its_start_day() -> None:
    w = window("22:00", "02:00", days=(1,))  # Monday night
    assert is_open(w, TOKYO, at(TOKYO, "2025-06-02T22:00"))
    assert is_open(w, TOKYO, at(TOKYO, "2025-06-03T01:59"))
    assert not is_open(w, TOKYO, at(TOKYO, "2025-06-03T02:00"))
    assert not is_open(w, TOKYO, at(TOKYO, "2025-06-02T01:00"))  # Sunday's night, not in days
    assert not is_open(w, TOKYO, at(TOKYO, "2025-06-03T22:30"))
    assert next_change([w], TOKYO, at(TOKYO, "2025-06-02T23:00")) == at(TOKYO, "2025-06-03T02:00")
    assert next_change([w], TOKYO, at(TOKYO, "2025-06-03T02:00")) == at(TOKYO, "2025-06-09T22:00")


def test_start_equal_to_end_is_all_day() -> None:
    w = window("07:00", "07:00", days=(6,))  # Saturday 2025-06-07
    assert is_open(w, TOKYO, at(TOKYO, "2025-06-07T00:00"))
    assert is_open(w, TOKYO, at(TOKYO, "2025-06-07T23:59"))
    assert not is_open(w, TOKYO, at(TOKYO, "2025-06-08T00:00"))
    assert next_change([w], TOKYO, at(TOKYO, "2025-06-06T12:00")) == at(TOKYO, "2025-06-07T00:00")


def test_dates_are_inclusive_and_refer_to_the_start_day() -> None:
    w = window("22:00", "02:00", from_date="2025-06-03", to_date="2025-06-04")
    assert not is_open(w, TOKYO, at(TOKYO, "2025-06-03T01:00"))  # the 2nd's night
    assert is_open(w, TOKYO, at(TOKYO, "2025-06-03T22:00"))
    assert is_open(w, TOKYO, at(TOKYO, "2025-06-05T01:00"))  # the 4th's night, past to_date
    assert not is_open(w, TOKYO, at(TOKYO, "2025-06-05T22:00"))
    assert next_change([w], TOKYO, at(TOKYO, "2025-06-05T01:00")) == at(TOKYO, "2025-06-05T02:00")
    assert next_change([w], TOKYO, at(TOKYO, "2025-06-05T02:00")) is None


def test_next_change_reaches_far_future_dates() -> None:
    w = window("09:00", "10:00", days=(3,), from_date="2031-01-01")
    assert next_change([w], TOKYO, at(TOKYO, "2025-06-02T00:00")) == at(TOKYO, "2031-01-01T09:00")
    assert next_change([], TOKYO, at(TOKYO, "2025-06-02T00:00")) is None


def test_dates_at_the_end_of_the_calendar_do_not_overflow() -> None:
    now = at(TOKYO, "2025-06-02T10:00")
    forever = window("22:00", "02:00", from_date="2025-06-01", to_date="9999-12-31")
    assert next_change([forever], TOKYO, now) == at(TOKYO, "2025-06-02T22:00")
    last = window("00:00", "00:00", from_date="9999-12-31")
    assert next_change([last], TOKYO, now) is None
    assert not is_open(last, TOKYO, now)


def test_naive_now_is_refused() -> None:
    with pytest.raises(ValueError, match="aware"):
        next_change([window("09:00", "10:00")], TOKYO, datetime(2025, 6, 2, 9))


def test_spring_forward_gap_opens_at_the_end_of_the_gap() -> None:
    # Berlin 2025-03-30: 02:00 CET jumps to 03:00 CEST (01:00 UTC).
    w = window("02:30", "04:00", days=(7,))
    assert next_change([w], BERLIN, utc("2025-03-30T00:00")) == utc("2025-03-30T01:00")
    assert not is_open(w, BERLIN, utc("2025-03-30T00:59:59"))
    assert is_open(w, BERLIN, utc("2025-03-30T01:00"))
    assert next_change([w], BERLIN, utc("2025-03-30T01:00")) == at(BERLIN, "2025-03-30T04:00")
    gap_only = window("02:00", "02:45", days=(7,))  # entirely skipped: never opens that day
    assert next_change([gap_only], BERLIN, utc("2025-03-29T23:00")) == at(
        BERLIN, "2025-04-06T02:00"
    )
    # New York 2025-03-09: 02:00 EST jumps to 03:00 EDT (07:00 UTC).
    ny = window("01:30", "02:30", days=(7,))
    assert is_open(ny, NEW_YORK, utc("2025-03-09T06:59"))
    assert not is_open(ny, NEW_YORK, utc("2025-03-09T07:00"))


def test_fall_back_uses_the_first_occurrence() -> None:
    # Berlin 2025-10-26: 03:00 CEST falls back to 02:00 CET (01:00 UTC); 02:30 happens twice.
    first_230 = at(BERLIN, "2025-10-26T02:30", fold=0)
    second_230 = at(BERLIN, "2025-10-26T02:30", fold=1)
    assert second_230 - first_230 == timedelta(hours=1)
    opens = window("02:30", "05:00", days=(7,))
    assert next_change([opens], BERLIN, utc("2025-10-25T23:00")) == first_230
    closes = window("01:00", "02:30", days=(7,))
    assert is_open(closes, BERLIN, first_230 - timedelta(seconds=1))
    assert not is_open(closes, BERLIN, first_230)
    assert not is_open(closes, BERLIN, second_230 - timedelta(minutes=20))  # 02:10 again
    assert next_change([closes], BERLIN, first_230) == at(BERLIN, "2025-11-02T01:00")


def test_lord_howe_half_hour_gap() -> None:
    # Lord Howe 2025-10-05: 02:00 +10:30 jumps to 02:30 +11 (15:30 UTC the day before).
    w = window("02:15", "03:00", days=(7,))
    assert next_change([w], ZONES[3], utc("2025-10-04T15:00")) == utc("2025-10-04T15:30")


# ---- properties ---------------------------------------------------------------------------

DST_CHANGES = [  # UTC instants of DST changes in the zones above, 2025
    utc("2025-03-30T01:00"),
    utc("2025-10-26T01:00"),
    utc("2025-03-09T07:00"),
    utc("2025-11-02T06:00"),
    utc("2025-04-05T15:00"),
    utc("2025-10-04T15:30"),
]

HALF_HOURS = st.builds(
    lambda h, m: f"{h:02d}:{m:02d}",
    st.sampled_from([0, 1, 2, 3, 12, 21, 22, 23]) | st.integers(0, 23),
    st.sampled_from([0, 30]),
)
ANY_TIME = HALF_HOURS | st.builds(
    lambda h, m: f"{h:02d}:{m:02d}", st.integers(0, 23), st.integers(0, 59)
)
DATES = st.none() | st.dates(date(2025, 2, 20), date(2025, 11, 15)).map(date.isoformat)


@st.composite
def windows(draw: st.DrawFn, times: st.SearchStrategy[str] = ANY_TIME) -> Window:
    first, last = draw(DATES), draw(DATES)
    if first and last and first > last:
        first, last = last, first
    return Window(
        slides=draw(
            st.lists(st.sampled_from(["a", "b", "c"]), min_size=1, max_size=3, unique=True)
        ),
        days=draw(st.lists(st.integers(1, 7), min_size=1, max_size=7, unique=True)),
        start=draw(times),
        end=draw(times),
        from_date=first,
        to_date=last,
        priority=draw(st.integers(0, 2)),
    )


def instants(step_s: int = 1) -> st.SearchStrategy[datetime]:
    """Instants within 8 days of a DST change, on multiples of `step_s`."""
    span = 8 * 86_400 // step_s
    return st.builds(
        lambda base, k: base + timedelta(seconds=k * step_s),
        st.sampled_from(DST_CHANGES),
        st.integers(-span, span),
    )


NOWS = instants(1).map(lambda t: t + timedelta(microseconds=123)) | instants(60) | instants(1800)


@settings(max_examples=examples(200), deadline=None)
@given(
    tz=st.sampled_from(ZONES),
    ws=st.lists(windows(), max_size=4),
    now=NOWS,
    fractions=st.lists(st.floats(0, 1), max_size=6),
)
def test_playing_is_constant_until_next_change(
    tz: ZoneInfo, ws: list[Window], now: datetime, fractions: list[float]
) -> None:
    change = next_change(ws, tz, now)
    assert change is None or change > now
    end = change if change is not None else now + timedelta(days=9)
    expected = playing(PLAYLIST, ws, tz, now, True)
    for f in [*fractions, 0.5]:
        t = now + (end - now) * f
        if t < end:
            assert playing(PLAYLIST, ws, tz, t, True) == expected, t
    assert playing(PLAYLIST, ws, tz, end - timedelta(microseconds=1), True) == expected
    t = now
    while t < min(end, now + timedelta(days=2)):  # every half hour, the grid of HALF_HOURS
        assert playing(PLAYLIST, ws, tz, t, True) == expected, t
        t += timedelta(minutes=30)


@settings(max_examples=examples(60), deadline=None)
@given(tz=st.sampled_from(ZONES), ws=st.lists(windows(HALF_HOURS), min_size=1, max_size=3))
def test_stepping_from_change_to_change_visits_every_opening(
    tz: ZoneInfo, ws: list[Window]
) -> None:
    # Boundaries all fall on the half-hour grid (times, offsets and DST changes do).
    start, week, step = utc("2025-03-26T00:00"), timedelta(days=7), timedelta(minutes=30)
    for base in (start, utc("2025-10-22T00:00")):
        visited, t = set(), base
        while (nxt := next_change(ws, tz, t)) is not None and nxt <= base + week:
            assert nxt > t
            visited.add(nxt)
            t = nxt
        for w in ws:
            g = base + step
            was_open = is_open(w, tz, base)
            while g <= base + week:
                now_open = is_open(w, tz, g)
                if now_open and not was_open:
                    assert g in visited, (w, g)
                was_open, g = now_open, g + step


def runs_on(w: Window, day: date) -> bool:
    """Independent of the module: does `day` match the window's days and dates?"""
    return (
        day.isoweekday() in w.days
        and (w.from_date is None or date.fromisoformat(w.from_date) <= day)
        and (w.to_date is None or day <= date.fromisoformat(w.to_date))
    )


@settings(max_examples=examples(300), deadline=None)
@given(tz=st.sampled_from(ZONES), w=windows(), now=NOWS)
def test_never_open_outside_its_days_and_dates(tz: ZoneInfo, w: Window, now: datetime) -> None:
    if not is_open(w, tz, now):
        return
    local = now.astimezone(tz)
    if w.start < w.end or w.start == w.end:
        assert runs_on(w, local.date())
    else:
        assert runs_on(w, local.date()) or runs_on(w, local.date() - timedelta(days=1))


@settings(max_examples=examples(300), deadline=None)
@given(tz=st.sampled_from(ZONES), w=windows(), now=NOWS)
def test_matches_the_wall_clock_away_from_dst_changes(
    tz: ZoneInfo, w: Window, now: datetime
) -> None:
    if (now - timedelta(days=2)).astimezone(tz).utcoffset() != (now + timedelta(days=2)).astimezone(
        tz
    ).utcoffset():
        return  # a DST change nearby: wall-clock comparison is not the rule there
    local = now.astimezone(tz)
    day, clock = local.date(), local.time().replace(tzinfo=None)
    start, end = time.fromisoformat(w.start), time.fromisoformat(w.end)
    if start == end:
        expected = runs_on(w, day)
    elif start < end:
        expected = runs_on(w, day) and start <= clock < end
    else:
        expected = (runs_on(w, day) and clock >= start) or (
            runs_on(w, day - timedelta(days=1)) and clock < end
        )
    assert is_open(w, tz, now) == expected
