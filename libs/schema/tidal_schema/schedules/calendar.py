"""A calendar spec compiled for search, on wall-clock time.

Wall-clock time is counted in whole seconds since 1970-01-01 00:00 of the zone's own clock
("wall seconds"); `engine.py` maps it to instants one offset segment at a time. The search walks
the fields from the outside in (year, month, day, hour, minute, second), jumping straight to the
next allowed value of each, so finding the next time of `* * * * *` or of a yearly spec costs a
few dozen steps, never one per second.
"""

from __future__ import annotations

import calendar as _stdlib_calendar
from bisect import bisect_left
from dataclasses import dataclass
from datetime import date

from .models import ScheduleCalendarSpec, ScheduleRange
from .zones import DAY

__all__ = ["CompiledCalendar", "compile_calendar", "wall_fields", "wall_seconds"]

_EPOCH_ORDINAL = date(1970, 1, 1).toordinal()


def wall_seconds(year: int, month: int, day: int, hour: int, minute: int, second: int) -> int:
    days = date(year, month, day).toordinal() - _EPOCH_ORDINAL
    return days * DAY + hour * 3600 + minute * 60 + second


def wall_fields(wall: int) -> tuple[int, int, int, int, int, int]:
    days, rest = divmod(wall, DAY)
    day = date.fromordinal(days + _EPOCH_ORDINAL)
    hour, rest = divmod(rest, 3600)
    minute, second = divmod(rest, 60)
    return day.year, day.month, day.day, hour, minute, second


def _values(ranges: tuple[ScheduleRange, ...], low: int, high: int) -> tuple[int, ...]:
    found: set[int] = set()
    for r in ranges:
        found.update(v for v in r.values() if low <= v <= high)
    return tuple(sorted(found))


def _next_value(values: tuple[int, ...], at_least: int) -> int | None:
    index = bisect_left(values, at_least)
    return values[index] if index < len(values) else None


def _next_in_ranges(ranges: tuple[tuple[int, int, int], ...], at_least: int) -> int | None:
    """The smallest value >= `at_least` of any (start, end, step) range: arithmetic, so a year
    range of seven thousand values costs no more than one of a single value."""
    best: int | None = None
    for start, end, step in ranges:
        if at_least <= start:
            value = start
        else:
            value = start + -(-(at_least - start) // step) * step
        if value <= end and (best is None or value < best):
            best = value
    return best


def _sunday_zero(year: int, month: int, day: int) -> int:
    return (date(year, month, day).weekday() + 1) % 7


@dataclass(frozen=True, kw_only=True)
class CompiledCalendar:
    seconds: tuple[int, ...]
    minutes: tuple[int, ...]
    hours: tuple[int, ...]
    days_of_month: frozenset[int]
    months: tuple[int, ...]
    years: tuple[tuple[int, int, int], ...] | None  # (start, end, step) ranges; None: every year
    days_of_week: frozenset[int]

    @property
    def never(self) -> bool:
        """Whether no time can ever match (an empty field, or only impossible dates such as
        February 30): decided once, so such a spec costs nothing to search."""
        if not (self.seconds and self.minutes and self.hours and self.days_of_week):
            return True
        if self.years is not None and not self.years:
            return True
        return not any(
            day <= (29 if month == 2 else _stdlib_calendar.monthrange(2001, month)[1])
            for month in self.months
            for day in self.days_of_month
        )

    def matches(self, wall: int) -> bool:
        year, month, day, hour, minute, second = wall_fields(wall)
        return (
            (self.years is None or _next_in_ranges(self.years, year) == year)
            and _next_value(self.months, month) == month
            and day in self.days_of_month
            and _sunday_zero(year, month, day) in self.days_of_week
            and _next_value(self.hours, hour) == hour
            and _next_value(self.minutes, minute) == minute
            and _next_value(self.seconds, second) == second
        )

    def next_wall(self, after: int, limit: int) -> int | None:
        """The first wall second after `after` (and at most `limit`) this calendar matches."""
        if self.never:
            return None
        limit_year = wall_fields(limit)[0]
        year, month, day, hour, minute, second = wall_fields(after + 1)
        while True:
            # Each pass either returns or moves to the start of a later unit: the loop ends.
            if year > limit_year:
                return None
            if self.years is not None:
                allowed_year = _next_in_ranges(self.years, year)
                if allowed_year is None:
                    return None
                if allowed_year != year:
                    year, month, day, hour, minute, second = allowed_year, 1, 1, 0, 0, 0
                    continue
            allowed_month = _next_value(self.months, month)
            if allowed_month is None:
                year, month, day, hour, minute, second = year + 1, 1, 1, 0, 0, 0
                continue
            if allowed_month != month:
                month, day, hour, minute, second = allowed_month, 1, 0, 0, 0
            last_day = _stdlib_calendar.monthrange(year, month)[1]
            found_day = next(
                (
                    d
                    for d in range(day, last_day + 1)
                    if d in self.days_of_month and _sunday_zero(year, month, d) in self.days_of_week
                ),
                None,
            )
            if found_day is None:
                year, month, day, hour, minute, second = _next_month(year, month)
                continue
            if found_day != day:
                day, hour, minute, second = found_day, 0, 0, 0
            allowed_hour = _next_value(self.hours, hour)
            if allowed_hour is None:
                year, month, day, hour, minute, second = _next_day(year, month, day)
                continue
            if allowed_hour != hour:
                hour, minute, second = allowed_hour, 0, 0
            allowed_minute = _next_value(self.minutes, minute)
            if allowed_minute is None:
                year, month, day, hour, minute, second = _next_hour(year, month, day, hour)
                continue
            if allowed_minute != minute:
                minute, second = allowed_minute, 0
            allowed_second = _next_value(self.seconds, second)
            if allowed_second is None:
                year, month, day, hour, minute, second = _next_hour(year, month, day, hour, minute)
                continue
            found = wall_seconds(year, month, day, hour, minute, allowed_second)
            return found if found <= limit else None

    def unmatched_after(self, wall: int, limit: int) -> int | None:
        """The first wall second after `wall` (a matching one) that this calendar does not match,
        at most `limit`: one step over a whole run of excluded times. The run ends at the finest
        field the calendar does not cover entirely: the next missing second, minute or hour (in
        this block or at the start of the next), or else the next day or year that fails."""
        _, _, _, hour, minute, second = wall_fields(wall)
        for values, size, unit, current in (
            (self.seconds, 60, 1, second),
            (self.minutes, 60, 60, minute),
            (self.hours, 24, 3600, hour),
        ):
            if len(values) == size:
                continue
            block = wall - wall % (unit * size)
            present = set(values)
            gap = next((v for v in range(current + 1, size) if v not in present), None)
            if gap is None:
                block += unit * size
                if block <= limit and not self.matches(block):
                    return block
                gap = next(v for v in range(size) if v not in present)
            found = block + gap * unit
            return found if found <= limit else None
        whole_days = len(self.days_of_month) == 31 and len(self.months) == 12 and len(self.days_of_week) == 7
        probe = wall
        while True:
            if whole_days:
                probe = wall_seconds(wall_fields(probe)[0] + 1, 1, 1, 0, 0, 0)
            else:
                probe = (probe // DAY + 1) * DAY
            if probe > limit:
                return None
            if not self.matches(probe):
                return probe


def _next_month(year: int, month: int) -> tuple[int, int, int, int, int, int]:
    return (year + 1, 1, 1, 0, 0, 0) if month == 12 else (year, month + 1, 1, 0, 0, 0)


def _next_day(year: int, month: int, day: int) -> tuple[int, int, int, int, int, int]:
    if day < _stdlib_calendar.monthrange(year, month)[1]:
        return year, month, day + 1, 0, 0, 0
    return _next_month(year, month)


def _next_hour(
    year: int, month: int, day: int, hour: int, minute: int | None = None
) -> tuple[int, int, int, int, int, int]:
    """The start of the next minute (when `minute` is given) or else of the next hour."""
    if minute is not None and minute < 59:
        return year, month, day, hour, minute + 1, 0
    if hour < 23:
        return year, month, day, hour + 1, 0, 0
    return _next_day(year, month, day)


def compile_calendar(spec: ScheduleCalendarSpec) -> CompiledCalendar:
    return CompiledCalendar(
        seconds=_values(spec.second, 0, 59),
        minutes=_values(spec.minute, 0, 59),
        hours=_values(spec.hour, 0, 23),
        days_of_month=frozenset(_values(spec.day_of_month, 1, 31)),
        months=_values(spec.month, 1, 12),
        years=tuple((r.start, r.end, r.step) for r in spec.year) if spec.year else None,
        days_of_week=frozenset(_values(spec.day_of_week, 0, 6)),
    )
