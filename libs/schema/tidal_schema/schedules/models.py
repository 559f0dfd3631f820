"""The schedule spec on the wire: which times a schedule names (Temporal's `ScheduleSpec`).

Frozen pydantic models, validated where they are built so that every edge (HTTP, AMQP, SDK)
refuses the same bad input with an error naming the field. The bounds here are also what keeps
the engine (`engine.py`) cheap: a hostile spec cannot hold more than a few hundred ranges, a cron
string longer than `MAX_CRON_LENGTH`, or a year the timestamps cannot reach.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Annotated

from pydantic import Field, StringConstraints, field_validator, model_validator

from ..common import Frozen
from ..limits import MAX_DURATION, MAX_TIMESTAMP, MIN_TIMESTAMP, STORE_SAFE_PATTERN, Timestamp
from .errors import ScheduleSpecError

__all__ = [
    "FIELD_BOUNDS",
    "MAX_COMMENT_LENGTH",
    "MAX_CRON_LENGTH",
    "MAX_RANGES_PER_FIELD",
    "MAX_SPEC_ITEMS",
    "MAX_SPEC_RANGES",
    "MAX_STEP",
    "MAX_TIME_ZONE_LENGTH",
    "MAX_YEAR",
    "MIN_YEAR",
    "ScheduleCalendarSpec",
    "ScheduleIntervalSpec",
    "ScheduleRange",
    "ScheduleSpec",
    "ScheduledTime",
]

MIN_YEAR = MIN_TIMESTAMP.year
MAX_YEAR = MAX_TIMESTAMP.year - 1
"""Calendar years a range may name: those the edge timestamps can reach (Temporal: 2000-2100)."""
MAX_STEP = 2**31 - 1
"""Steps are int32 in Temporal's proto; anything larger names one value anyway."""
MAX_RANGES_PER_FIELD = 100
MAX_SPEC_ITEMS = 100
"""At most this many calendars, intervals, cron strings and skip calendars (each)."""
MAX_SPEC_RANGES = 2000
"""Ranges in all calendars and skips of one spec together (each field alone: 100)."""
MAX_CRON_LENGTH = 1000
MAX_COMMENT_LENGTH = 1000
MAX_TIME_ZONE_LENGTH = 255

FIELD_BOUNDS: dict[str, tuple[int, int]] = {
    "second": (0, 59),
    "minute": (0, 59),
    "hour": (0, 23),
    "day_of_month": (1, 31),
    "month": (1, 12),
    "year": (MIN_YEAR, MAX_YEAR),
    "day_of_week": (0, 6),
}
"""Inclusive bounds of each calendar field (day of week: 0 is Sunday)."""

_Comment = Annotated[str, StringConstraints(max_length=MAX_COMMENT_LENGTH, pattern=STORE_SAFE_PATTERN)]
_CronString = Annotated[str, StringConstraints(max_length=MAX_CRON_LENGTH, pattern=STORE_SAFE_PATTERN)]


class ScheduleRange(Frozen):
    """Inclusive range `start..end` by `step`. As in Temporal: `end` 0 or below `start` means
    `start` (a single value), `step` 0 means 1. Normalised at construction, so two ranges that
    match the same values compare equal."""

    start: int = Field(ge=0, le=MAX_YEAR)
    end: int = Field(default=0, ge=0, le=MAX_YEAR)
    step: int = Field(default=1, ge=0, le=MAX_STEP)

    @model_validator(mode="after")
    def _normalise(self) -> ScheduleRange:
        # After validation, so that lax input ("3" in JSON) is normalised too; the model is
        # frozen, hence object.__setattr__ (as temporalio's own frozen dataclass does).
        if self.end < self.start:
            object.__setattr__(self, "end", self.start)
        if self.step == 0:
            object.__setattr__(self, "step", 1)
        return self

    def values(self) -> range:
        return range(self.start, self.end + 1, self.step)


def _default(start: int, end: int = 0) -> tuple[ScheduleRange, ...]:
    return (ScheduleRange(start=start, end=end),)


_Ranges = Annotated[tuple[ScheduleRange, ...], Field(max_length=MAX_RANGES_PER_FIELD)]


class ScheduleCalendarSpec(Frozen):
    """Calendar times: a time matches when at least one range of every field matches (an empty
    `year` matches every year; any other empty field matches nothing). Defaults as temporalio's:
    second, minute and hour 0, every day of every month, every year."""

    second: _Ranges = _default(0)
    minute: _Ranges = _default(0)
    hour: _Ranges = _default(0)
    day_of_month: _Ranges = _default(1, 31)
    month: _Ranges = _default(1, 12)
    year: _Ranges = ()
    day_of_week: _Ranges = _default(0, 6)
    comment: _Comment | None = None

    @model_validator(mode="after")
    def _ranges_in_bounds(self) -> ScheduleCalendarSpec:
        for name, (low, high) in FIELD_BOUNDS.items():
            for r in getattr(self, name):
                if not low <= r.start <= high or not low <= r.end <= high:
                    raise ScheduleSpecError(f"{name} range {r.start}-{r.end} is outside {low}-{high}")
        return self


class ScheduleIntervalSpec(Frozen):
    """Times `epoch + n * every + offset` for every integer n, whatever the time zone. As in
    Temporal both are whole seconds (fractions are truncated), `every` at least one second and
    `offset` in `[0, every)`."""

    every: timedelta
    offset: timedelta = timedelta(0)

    @field_validator("every", "offset", mode="after")
    @classmethod
    def _whole_seconds(cls, value: timedelta) -> timedelta:
        if value > MAX_DURATION:
            raise ScheduleSpecError(f"must be at most {MAX_DURATION.days} days")
        return timedelta(seconds=int(value.total_seconds())) if value >= timedelta(0) else value

    @field_validator("every", mode="after")
    @classmethod
    def _positive(cls, value: timedelta) -> timedelta:
        if value < timedelta(seconds=1):
            raise ScheduleSpecError(f"must be at least 1 second, not {value.total_seconds()}s")
        return value

    @model_validator(mode="after")
    def _offset_below_every(self) -> ScheduleIntervalSpec:
        if self.offset < timedelta(0):
            raise ScheduleSpecError(f"offset cannot be negative ({self.offset.total_seconds()}s)")
        if self.offset >= self.every:
            raise ScheduleSpecError(
                f"offset ({self.offset.total_seconds()}s) must be less than every "
                f"({self.every.total_seconds()}s)"
            )
        return self


class ScheduleSpec(Frozen):
    """The times a schedule acts: the union of `calendars`, `intervals` and `cron_expressions`,
    minus the times any `skip` calendar matches, inside `[start_at, end_at]`. Calendars and crons
    are read in `time_zone_name` (UTC when unset; a cron's `CRON_TZ=` prefix sets it too).
    Each time is delayed by a deterministic jitter in `[0, jitter)`, never past the next time."""

    calendars: Annotated[tuple[ScheduleCalendarSpec, ...], Field(max_length=MAX_SPEC_ITEMS)] = ()
    intervals: Annotated[tuple[ScheduleIntervalSpec, ...], Field(max_length=MAX_SPEC_ITEMS)] = ()
    cron_expressions: Annotated[tuple[_CronString, ...], Field(max_length=MAX_SPEC_ITEMS)] = ()
    skip: Annotated[tuple[ScheduleCalendarSpec, ...], Field(max_length=MAX_SPEC_ITEMS)] = ()
    start_at: Timestamp | None = None
    end_at: Timestamp | None = None
    jitter: timedelta | None = None
    time_zone_name: (
        Annotated[str, StringConstraints(max_length=MAX_TIME_ZONE_LENGTH, pattern=STORE_SAFE_PATTERN)] | None
    ) = None

    @field_validator("start_at", "end_at", mode="after")
    @classmethod
    def _utc(cls, value: datetime | None) -> datetime | None:
        return None if value is None else value.astimezone(UTC)

    @field_validator("jitter", mode="after")
    @classmethod
    def _jitter_in_range(cls, value: timedelta | None) -> timedelta | None:
        if value is None:
            return None
        if value < timedelta(0):
            raise ScheduleSpecError(f"cannot be negative ({value.total_seconds()}s)")
        if value > MAX_DURATION:
            raise ScheduleSpecError(f"must be at most {MAX_DURATION.days} days")
        return value

    @field_validator("time_zone_name", mode="after")
    @classmethod
    def _known_zone(cls, value: str | None) -> str | None:
        if not value:
            return None  # temporalio sends "" for "unset": UTC
        from .zones import load_zone

        load_zone(value)
        return value

    @field_validator("cron_expressions", mode="after")
    @classmethod
    def _crons_parse(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        from .cron import parse_cron

        for index, expression in enumerate(value):
            try:
                parse_cron(expression)
            except ScheduleSpecError as e:
                raise ScheduleSpecError(f"cron_expressions[{index}] {expression!r}: {e}") from None
        return value

    @model_validator(mode="after")
    def _whole(self) -> ScheduleSpec:
        if not (self.calendars or self.intervals or self.cron_expressions):
            raise ScheduleSpecError("a spec needs at least one of calendars, intervals or cron_expressions")
        ranges = sum(
            len(getattr(calendar, name))
            for calendar in (*self.calendars, *self.skip)
            for name in FIELD_BOUNDS
        )
        if ranges > MAX_SPEC_RANGES:
            raise ScheduleSpecError(
                f"calendars and skip hold {ranges} ranges together; the limit is {MAX_SPEC_RANGES}"
            )
        if self.start_at is not None and self.end_at is not None and self.end_at < self.start_at:
            raise ScheduleSpecError(
                f"end_at ({self.end_at.isoformat()}) is before start_at ({self.start_at.isoformat()})"
            )
        from .cron import effective_time_zone

        effective_time_zone(self)  # crons that disagree on their zone, or with time_zone_name
        return self


class ScheduledTime(Frozen):
    """One action time: `nominal` is the time the spec names (UTC), `actual` the time to act,
    `nominal` plus the schedule's jitter."""

    nominal: datetime
    actual: datetime
