"""Store hours: is the panel wanted on at a given instant? Pure; no clock is read here.

Hours are local wall-clock times in the store's time zone, so a schedule keeps meaning
"open 09:00-21:00" across daylight-saving changes. A day's value is one or more ranges
`"09:00-12:00, 13:00-21:00"`, or `"closed"`; a range may end after midnight
(`"18:00-02:00"`: until 2 o'clock the next morning) and `"00:00-24:00"` is all day.
A dated exception (`"2026-12-24" = "09:00-14:00"`, `"2026-12-25" = "closed"`) replaces
that date's weekly hours. No hours at all: the panel is always on. With hours, a day
that is not listed is closed.

An override (`omo-edge display on|off`, the `display` command) wins until its `until`
(none: until someone says `auto`).
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

DAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
_RANGE = re.compile(r"(\d{1,2}):(\d{2})\s*-\s*(\d{1,2}):(\d{2})")
_DATE = re.compile(r"\d{4}-\d{2}-\d{2}")

Minutes = tuple[int, int]
"""A range in minutes after local midnight; end > 1440 reaches into the next day."""


class ScheduleError(ValueError):
    """A value of `[panel] hours` or `exceptions` that cannot be read."""


def parse_ranges(text: str) -> tuple[Minutes, ...]:
    """`"09:00-21:00, 22:00-02:00"` as minute ranges; `"closed"` or `""` as none."""
    text = text.strip().lower()
    if text in ("", "closed"):
        return ()
    out = []
    for part in text.split(","):
        found = _RANGE.fullmatch(part.strip())
        if not found:
            raise ScheduleError(f"{part.strip()!r} is not HH:MM-HH:MM")
        h1, m1, h2, m2 = (int(g) for g in found.groups())
        if h1 > 23 or m1 > 59 or h2 > 24 or m2 > 59 or (h2 == 24 and m2):
            raise ScheduleError(f"{part.strip()!r} is not a time of day")
        start, end = h1 * 60 + m1, h2 * 60 + m2
        if end == start:
            raise ScheduleError(f"{part.strip()!r} is empty")
        out.append((start, end if end > start else end + 1440))
    return tuple(out)


def valid_hours(table: Mapping[str, str]) -> bool:
    """Config check for `[panel] hours`."""
    try:
        return all(day in DAYS and parse_ranges(value) is not None for day, value in table.items())
    except (ScheduleError, AttributeError):
        return False


def valid_exceptions(table: Mapping[str, str]) -> bool:
    """Config check for `[panel] exceptions`."""
    try:
        for date, value in table.items():
            if not _DATE.fullmatch(date):
                return False
            dt.date.fromisoformat(date)
            parse_ranges(value)
    except (ScheduleError, ValueError, AttributeError):
        return False
    return True


def valid_zone(name: str) -> bool:
    """Config check for `[panel] timezone`: empty (the system's) or an IANA name."""
    if not name:
        return True
    try:
        ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        return False
    return True


@dataclass(frozen=True, slots=True)
class Schedule:
    """Weekly hours and dated exceptions in `zone` (None: the system's local time)."""

    weekly: Mapping[int, tuple[Minutes, ...]] = field(default_factory=dict)
    exceptions: Mapping[dt.date, tuple[Minutes, ...]] = field(default_factory=dict)
    zone: dt.tzinfo | None = None

    @classmethod
    def from_config(
        cls, hours: Mapping[str, str], exceptions: Mapping[str, str], zone: str
    ) -> Schedule:
        return cls(
            {DAYS.index(day): parse_ranges(value) for day, value in hours.items()},
            {dt.date.fromisoformat(d): parse_ranges(v) for d, v in exceptions.items()},
            ZoneInfo(zone) if zone else None,
        )

    @property
    def always_on(self) -> bool:
        return not self.weekly and not self.exceptions

    def _ranges(self, day: dt.date) -> tuple[Minutes, ...]:
        if day in self.exceptions:
            return self.exceptions[day]
        if not self.weekly:
            return ((0, 1440),)  # only exceptions: other days are open all day
        return self.weekly.get(day.weekday(), ())

    def open_at(self, now_ms: int) -> bool:
        """Whether the store is open (the panel wanted on) at `now_ms` (ms since epoch)."""
        if self.always_on:
            return True
        local = dt.datetime.fromtimestamp(now_ms / 1000, self.zone)  # None: system time
        minute = local.hour * 60 + local.minute
        today, yesterday = local.date(), local.date() - dt.timedelta(days=1)
        if any(start <= minute < end for start, end in self._ranges(today)):
            return True
        return any(end > 1440 and minute < end - 1440 for _s, end in self._ranges(yesterday))


Power = Literal["on", "off"]


@dataclass(frozen=True, slots=True)
class Override:
    """Store staff or central said on/off, until `until_ms` (None: until `auto`)."""

    power: Power
    until_ms: int | None = None

    def active(self, now_ms: int) -> bool:
        return self.until_ms is None or now_ms < self.until_ms


@dataclass(frozen=True, slots=True)
class Plan:
    """What the panel should be now, and why."""

    power: Power
    by: Literal["schedule", "override"]
    until_ms: int | None = None


def plan(schedule: Schedule, override: Override | None, now_ms: int) -> Plan:
    """The override while it lasts, else the schedule."""
    if override is not None and override.active(now_ms):
        return Plan(override.power, "override", override.until_ms)
    return Plan("on" if schedule.open_at(now_ms) else "off", "schedule")
