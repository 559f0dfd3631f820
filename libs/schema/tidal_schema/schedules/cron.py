"""Cron strings, compiled into calendar (or interval) specs as Temporal does.

Accepted, as Temporal's `cron_string`:

- 5 fields `minute hour day-of-month month day-of-week`; 6 fields add `year` at the end; 7 fields
  are `second minute hour day-of-month month day-of-week year`;
- `@yearly @annually @monthly @weekly @daily @midnight @hourly`, and `@every <d>[/<offset>]`
  (an interval: integers with units s, m, h, d, such as `@every 90m` or `@every 1d/6h`);
- per field: `*`, `x`, `x-z`, `x/y` (x, x+y, ... up to the field's maximum), `x-z/y`, `*/y`, and
  lists of these; month names and day-of-week names (prefixes of at least 3 and 2 letters, any
  case: `JAN`, `mon`); day of week 0-7 with both 0 and 7 meaning Sunday;
- a `CRON_TZ=<zone>` (or `TZ=<zone>`) prefix, and a `# comment` suffix.

Day of month and day of week are ANDed, as in Temporal (which documents that it does not
implement the classic cron special case where they are ORed when both are restricted).
"""

from __future__ import annotations

import functools
import re
from dataclasses import dataclass
from datetime import timedelta
from typing import TYPE_CHECKING

from .errors import ScheduleSpecError
from .models import (
    MAX_CRON_LENGTH,
    MAX_RANGES_PER_FIELD,
    MAX_STEP,
    MAX_YEAR,
    MIN_YEAR,
    ScheduleCalendarSpec,
    ScheduleIntervalSpec,
    ScheduleRange,
)
from .zones import load_zone

if TYPE_CHECKING:
    from .models import ScheduleSpec

__all__ = ["ParsedCron", "effective_time_zone", "parse_cron"]

_MONTHS = "january february march april may june july august september october november december".split()
_DAYS = "sunday monday tuesday wednesday thursday friday saturday".split()
_SHORTHANDS = {
    "@yearly": "0 0 1 1 *",
    "@annually": "0 0 1 1 *",
    "@monthly": "0 0 1 * *",
    "@weekly": "0 0 * * 0",
    "@daily": "0 0 * * *",
    "@midnight": "0 0 * * *",
    "@hourly": "0 * * * *",
}
_FIELDS_5 = ("minute", "hour", "day_of_month", "month", "day_of_week")
_FIELDS = {
    5: _FIELDS_5,
    6: (*_FIELDS_5, "year"),
    7: ("second", *_FIELDS_5, "year"),
}
# Day of week takes 7 for Sunday too; years start counting steps from 2000 as in Temporal.
_BOUNDS = {
    "second": (0, 59),
    "minute": (0, 59),
    "hour": (0, 23),
    "day_of_month": (1, 31),
    "month": (1, 12),
    "day_of_week": (0, 7),
    "year": (MIN_YEAR, MAX_YEAR),
}
_DURATION_PART = re.compile(r"(\d{1,12})([smhd])")
_DURATION = re.compile(r"(?:\d{1,12}[smhd])+")
_UNIT_SECONDS = {"s": 1, "m": 60, "h": 3600, "d": 86400}


@dataclass(frozen=True, kw_only=True)
class ParsedCron:
    """What one cron string compiles to: a calendar or an interval, and its zone prefix."""

    calendar: ScheduleCalendarSpec | None = None
    interval: ScheduleIntervalSpec | None = None
    time_zone: str | None = None


def parse_cron(expression: str) -> ParsedCron:
    """Compile one cron string; raises ScheduleSpecError naming the field that is wrong.
    Short strings (every real one) are cached; a long list can compile to hundreds of ranges,
    and a cache of those would let a client pin memory."""
    if len(expression) <= _CACHED_LENGTH:
        return _parse_cached(expression)
    return _parse(expression)


_CACHED_LENGTH = 100


@functools.lru_cache(maxsize=1024)
def _parse_cached(expression: str) -> ParsedCron:
    return _parse(expression)


def _parse(expression: str) -> ParsedCron:
    if len(expression) > MAX_CRON_LENGTH:
        raise ScheduleSpecError(f"longer than {MAX_CRON_LENGTH} characters")
    if "\x00" in expression:
        raise ScheduleSpecError("contains NUL (\\u0000)")
    text, _, comment = expression.partition("#")
    text = text.strip()
    time_zone: str | None = None
    if text.startswith(("CRON_TZ=", "TZ=")):
        prefix, _, text = text.partition(" ")
        time_zone = prefix.partition("=")[2]
        if not time_zone:
            raise ScheduleSpecError(f"{prefix!r} names no time zone")
        load_zone(time_zone)
        text = text.strip()
    if text.startswith("@every"):
        return ParsedCron(interval=_parse_every(text), time_zone=time_zone)
    if text.startswith("@"):
        if text not in _SHORTHANDS:
            raise ScheduleSpecError(
                f"unknown shorthand {text[:40]!r} (known: {', '.join(_SHORTHANDS)}, @every)"
            )
        text = _SHORTHANDS[text]
    fields = text.split()
    names = _FIELDS.get(len(fields))
    if names is None:
        raise ScheduleSpecError(
            f"has {len(fields)} fields; expected 5 (minute hour day-of-month month day-of-week), "
            "6 (the same and year) or 7 (second first, year last)"
        )
    parsed = {name: _parse_field(name, field) for name, field in zip(names, fields, strict=True)}
    try:
        calendar = ScheduleCalendarSpec(**parsed, comment=comment.strip() or None)
    except ValueError as e:
        raise ScheduleSpecError(str(e)) from None
    return ParsedCron(calendar=calendar, time_zone=time_zone)


def _parse_every(text: str) -> ScheduleIntervalSpec:
    _, _, rest = text.partition(" ")
    every, _, offset = rest.strip().partition("/")
    try:
        return ScheduleIntervalSpec(
            every=_parse_duration(every, "@every interval"),
            offset=_parse_duration(offset, "@every offset") if offset else timedelta(0),
        )
    except ScheduleSpecError:
        raise
    except ValueError as e:
        raise ScheduleSpecError(f"@every: {e}") from None


def _parse_duration(text: str, what: str) -> timedelta:
    if not _DURATION.fullmatch(text):
        raise ScheduleSpecError(f"{what} {text[:40]!r} is not a duration such as 30s, 15m, 1h30m or 2d")
    seconds = sum(int(n) * _UNIT_SECONDS[unit] for n, unit in _DURATION_PART.findall(text))
    return timedelta(seconds=seconds)


def _parse_field(name: str, text: str) -> tuple[ScheduleRange, ...]:
    low, high = _BOUNDS[name]
    parts = text.split(",")
    if len(parts) > MAX_RANGES_PER_FIELD:
        raise ScheduleSpecError(f"{name} field has more than {MAX_RANGES_PER_FIELD} list items")
    ranges: list[ScheduleRange] = []
    for part in parts:
        try:
            ranges.extend(_parse_part(name, part, low, high))
        except ScheduleSpecError as e:
            raise ScheduleSpecError(f"{name} field {text[:60]!r}: {e}") from None
    if name == "year" and ranges == [ScheduleRange(start=low, end=high)]:
        return ()  # every year: the calendar's own default, and much cheaper to search
    return tuple(ranges)


def _parse_part(name: str, part: str, low: int, high: int) -> list[ScheduleRange]:
    base, slash, step_text = part.partition("/")
    step = 1
    if slash:
        if not step_text.isdecimal() or len(step_text) > 10:
            raise ScheduleSpecError(f"step {step_text[:20]!r} is not a positive integer")
        step = int(step_text)
        if not 1 <= step <= MAX_STEP:
            raise ScheduleSpecError(f"step {step} must be between 1 and {MAX_STEP}")
    if base == "*":
        start, end = (2000 if name == "year" and slash else low), high
    elif "-" in base:
        first, _, last = base.partition("-")
        start, end = _parse_value(name, first, low, high), _parse_value(name, last, low, high)
        if end < start:
            raise ScheduleSpecError(f"range {base!r} ends before it starts")
    else:
        start = _parse_value(name, base, low, high)
        end = high if slash else start  # "x/y" runs from x to the field's maximum
    if name == "day_of_week" and end == 7:
        # 7 is Sunday again: keep 0-6 on the wire, as the structured calendar takes them
        ranges = [ScheduleRange(start=start, end=6, step=step)] if start <= 6 else []
        if start != 0 and (7 - start) % step == 0:
            ranges.append(ScheduleRange(start=0))
        return ranges
    return [ScheduleRange(start=start, end=end, step=step)]


def _parse_value(name: str, text: str, low: int, high: int) -> int:
    lowered = text.lower()
    if name == "month" and len(lowered) >= 3:
        for number, month in enumerate(_MONTHS, start=1):
            if month.startswith(lowered):
                return number
    if name == "day_of_week" and len(lowered) >= 2:
        for number, day in enumerate(_DAYS):
            if day.startswith(lowered):
                return number
    if not text.isdecimal() or not text.isascii() or len(text) > 10:
        raise ScheduleSpecError(f"{text[:20]!r} is not a number{_names_hint(name)}")
    value = int(text)
    if not low <= value <= high:
        raise ScheduleSpecError(f"{value} is out of range {low}-{high}")
    return value


def _names_hint(name: str) -> str:
    if name == "month":
        return " or a month name"
    if name == "day_of_week":
        return " or a day name"
    return ""


def effective_time_zone(spec: ScheduleSpec) -> str | None:
    """The zone the spec's calendars and crons are read in: `CRON_TZ=` of its cron strings (which
    must all agree, and agree with `time_zone_name` when both are set), else `time_zone_name`."""
    zones = {parse_cron(expression).time_zone for expression in spec.cron_expressions}
    if len(zones) > 1:
        shown = ", ".join(sorted(repr(z) if z else "none" for z in zones))
        raise ScheduleSpecError(f"cron_expressions disagree on CRON_TZ ({shown})")
    cron_zone = next(iter(zones), None)
    if cron_zone and spec.time_zone_name and cron_zone != spec.time_zone_name:
        raise ScheduleSpecError(
            f"cron_expressions' CRON_TZ={cron_zone} conflicts with time_zone_name {spec.time_zone_name!r}"
        )
    return cron_zone or spec.time_zone_name
