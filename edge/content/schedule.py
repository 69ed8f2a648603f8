"""Schedule windows: which slides play now, and when that can next change. Pure: `now` is passed in.

Times are local wall-clock times in the manifest's timezone. Each window opens
once per matching start day: [start, end) on that day; start == end is the
whole day; start > end runs past midnight into the next day, and its `days`
and dates refer to the day it starts. A local time skipped by a DST change
opens at the first instant after the gap; a repeated one means its first
occurrence. Working in UTC instants (rather than comparing wall clocks) keeps
every window one unbroken interval even across DST changes, so `next_change`
can name the exact instant the daemon should wake up.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Sequence
from datetime import UTC, date, datetime, time, timedelta
from typing import Annotated
from zoneinfo import ZoneInfo

import msgspec
from msgspec import Meta

from edge.content.slides import Slide

_HHMM = re.compile(r"([01][0-9]|2[0-3]):([0-5][0-9])")
_DATE = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}")
_DAY = timedelta(days=1)
_LAST_DAY = date.max - 3 * _DAY  # "to 9999-12-31" means forever; stop before datetime overflows


def _time(value: str) -> time:
    if not _HHMM.fullmatch(value):
        raise ValueError(f"time {value!r} is not HH:MM (00:00 to 23:59)")
    return time(int(value[:2]), int(value[3:]))


def _date(value: str | None) -> date | None:
    if value is None:
        return None
    if _DATE.fullmatch(value):
        try:
            return date.fromisoformat(value)
        except ValueError:
            pass
    raise ValueError(f"date {value!r} is not a real date as YYYY-MM-DD")


HhMm = Annotated[
    str, Meta(pattern="^([01][0-9]|2[0-3]):[0-5][0-9]$", description="local time HH:MM")
]
IsoDate = Annotated[
    str, Meta(pattern="^[0-9]{4}-[0-9]{2}-[0-9]{2}$", description="a real date, YYYY-MM-DD")
]
IsoWeekday = Annotated[int, Meta(ge=1, le=7, description="1 = Monday ... 7 = Sunday")]


class Window(msgspec.Struct, frozen=True, kw_only=True):
    """Slides (ids from the playlist) that play on `days` from `start` to `end`, local time.

    `start` == `end` is the whole day; `start` > `end` runs past midnight. The highest
    `priority` among the open windows plays; with none open, the playlist. `from_date`
    and `to_date` are real dates, `from_date` not after `to_date` (checked on decoding).
    """

    slides: Annotated[list[str], Meta(min_length=1)]
    days: Annotated[list[IsoWeekday], Meta(min_length=1)]
    start: HhMm
    end: HhMm
    from_date: IsoDate | None = None
    to_date: IsoDate | None = None
    priority: int = 0

    def __post_init__(self) -> None:
        # What a schema cannot say: the dates are real and in order.
        first, last = _date(self.from_date), _date(self.to_date)
        if first and last and first > last:
            raise ValueError(f"from_date {self.from_date} is after to_date {self.to_date}")

    def starts_on(self, day: date) -> bool:
        """Whether an occurrence of this window starts on local date `day`."""
        first, last = _date(self.from_date), _date(self.to_date)
        return (
            day.isoweekday() in self.days
            and (first is None or first <= day)
            and (last is None or day <= last)
        )


def _instant(day: date, at: time, tz: ZoneInfo) -> datetime:
    """The UTC instant of local `day` `at`: the first occurrence, or the end of a DST gap."""
    local = datetime.combine(day, at, tzinfo=tz)  # fold=0: first occurrence if repeated
    instant = local.astimezone(UTC)
    if instant.astimezone(tz).replace(tzinfo=None) == local.replace(tzinfo=None):
        return instant
    # Skipped: the gap's end lies between the fold=1 and fold=0 readings; find it to the second.
    wall = local.replace(tzinfo=None)
    low = int(local.replace(fold=1).timestamp())
    high = int(instant.timestamp())
    while low < high:
        mid = (low + high) // 2
        if datetime.fromtimestamp(mid, tz).replace(tzinfo=None) >= wall:
            high = mid
        else:
            low = mid + 1
    return datetime.fromtimestamp(high, UTC)


def _occurrence(window: Window, day: date, tz: ZoneInfo) -> tuple[datetime, datetime]:
    """[open, close) in UTC of the occurrence starting on local `day` (whether or not it runs)."""
    start, end = _time(window.start), _time(window.end)
    if start == end:
        return _instant(day, time(0), tz), _instant(day + _DAY, time(0), tz)
    return _instant(day, start, tz), _instant(day + _DAY if start > end else day, end, tz)


def _occurrences(
    window: Window, tz: ZoneInfo, now: datetime
) -> Iterator[tuple[datetime, datetime]]:
    """Non-empty occurrences in time order, from the first that could still contain `now`.

    An occurrence lasts at most a day past its start day, so starting two days
    back covers even odd DST rules; ends when `to_date` (or year 9999) is passed.
    """
    day = now.astimezone(tz).date() - 2 * _DAY
    first, last = _date(window.from_date), _date(window.to_date)
    if first and first > day:
        day = first
    while (last is None or day <= last) and day <= _LAST_DAY:
        if window.starts_on(day):
            opens, closes = _occurrence(window, day, tz)
            if opens < closes:
                yield opens, closes
        day += _DAY


def _aware(now: datetime) -> datetime:
    if now.tzinfo is None or now.utcoffset() is None:
        raise ValueError("now must be an aware datetime")
    return now


def is_open(window: Window, tz: ZoneInfo, now: datetime) -> bool:
    """Whether `window` is open at `now`."""
    for opens, closes in _occurrences(window, tz, _aware(now)):
        if opens > now:
            return False
        if now < closes:
            return True
    return False


def playing(
    manifest_playlist: Sequence[Slide],
    windows: Sequence[Window],
    tz: ZoneInfo,
    now: datetime,
    clock_synced: bool,
) -> tuple[Slide, ...]:
    """The slides to loop now: the open window of top priority (first on ties), else the playlist.

    Before the clock is synced local time is unknown, so no window is trusted.
    """
    playlist = tuple(manifest_playlist)
    if not clock_synced:
        return playlist
    best: Window | None = None
    for window in windows:
        if (best is None or window.priority > best.priority) and is_open(window, tz, now):
            best = window
    if best is None:
        return playlist
    by_id = {slide.id: slide for slide in playlist}
    chosen = tuple(by_id[i] for i in best.slides if i in by_id)
    return chosen or playlist


def next_change(windows: Sequence[Window], tz: ZoneInfo, now: datetime) -> datetime | None:
    """The next instant (UTC) after `now` at which some window opens or closes, or None if none.

    `playing` is constant until then, so the caller can sleep instead of polling.
    """
    _aware(now)
    soonest: datetime | None = None
    for window in windows:
        for opens, closes in _occurrences(window, tz, now):
            if closes > now:
                edge = opens if opens > now else closes
                soonest = edge if soonest is None else min(soonest, edge)
                break
    return soonest
