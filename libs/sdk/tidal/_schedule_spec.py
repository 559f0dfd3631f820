"""The public schedule spec types, as `temporalio.client` names them (re-exported there).

Plain dataclasses with temporalio's fields and defaults, so Temporal code builds them unchanged;
`to_wire()` / `from_wire()` convert to and from `tidal_schema.schedules`, whose models validate
(an invalid cron, an unknown zone, an interval of zero, an end before the start raise a pydantic
`ValidationError`, a ValueError, naming the field) and whose engine computes the times.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from tidal_schema import schedules as wire

__all__ = ["ScheduleCalendarSpec", "ScheduleIntervalSpec", "ScheduleRange", "ScheduleSpec"]


@dataclass(frozen=True)
class ScheduleRange:
    """Inclusive range for a schedule match value."""

    start: int
    """Inclusive start of the range."""

    end: int = 0
    """Inclusive end of the range. If unset or less than start, defaults to start."""

    step: int = 0
    """Step to take between each value. Unset or 0 defaults as 1."""

    def __post_init__(self) -> None:
        # Frozen: normalise through object.__setattr__, as temporalio does.
        if self.end < self.start:
            object.__setattr__(self, "end", self.start)
        if self.step == 0:
            object.__setattr__(self, "step", 1)

    def to_wire(self) -> wire.ScheduleRange:
        return wire.ScheduleRange(start=self.start, end=self.end, step=self.step)

    @staticmethod
    def from_wire(value: wire.ScheduleRange) -> ScheduleRange:
        return ScheduleRange(start=value.start, end=value.end, step=value.step)


def _ranges_to_wire(ranges: Sequence[ScheduleRange]) -> tuple[wire.ScheduleRange, ...]:
    return tuple(r.to_wire() for r in ranges)


def _ranges_from_wire(ranges: Sequence[wire.ScheduleRange]) -> tuple[ScheduleRange, ...]:
    return tuple(ScheduleRange.from_wire(r) for r in ranges)


@dataclass
class ScheduleCalendarSpec:
    """Specification relative to calendar time when to run an action.

    A timestamp matches if at least one range of each field matches except for year. If year is
    missing, that means all years match. For all fields besides year, at least one range must be
    present to match anything.
    """

    second: Sequence[ScheduleRange] = (ScheduleRange(0),)
    """Second range to match, 0-59. Default matches 0."""

    minute: Sequence[ScheduleRange] = (ScheduleRange(0),)
    """Minute range to match, 0-59. Default matches 0."""

    hour: Sequence[ScheduleRange] = (ScheduleRange(0),)
    """Hour range to match, 0-23. Default matches 0."""

    day_of_month: Sequence[ScheduleRange] = (ScheduleRange(1, 31),)
    """Day of month range to match, 1-31. Default matches all days."""

    month: Sequence[ScheduleRange] = (ScheduleRange(1, 12),)
    """Month range to match, 1-12. Default matches all months."""

    year: Sequence[ScheduleRange] = ()
    """Optional year range to match. Default of empty matches all years."""

    day_of_week: Sequence[ScheduleRange] = (ScheduleRange(0, 6),)
    """Day of week range to match, 0-6, 0 is Sunday. Default matches all days."""

    comment: str | None = None
    """Description of this schedule."""

    def to_wire(self) -> wire.ScheduleCalendarSpec:
        return wire.ScheduleCalendarSpec(
            second=_ranges_to_wire(self.second),
            minute=_ranges_to_wire(self.minute),
            hour=_ranges_to_wire(self.hour),
            day_of_month=_ranges_to_wire(self.day_of_month),
            month=_ranges_to_wire(self.month),
            year=_ranges_to_wire(self.year),
            day_of_week=_ranges_to_wire(self.day_of_week),
            comment=self.comment or None,
        )

    @staticmethod
    def from_wire(value: wire.ScheduleCalendarSpec) -> ScheduleCalendarSpec:
        return ScheduleCalendarSpec(
            second=_ranges_from_wire(value.second),
            minute=_ranges_from_wire(value.minute),
            hour=_ranges_from_wire(value.hour),
            day_of_month=_ranges_from_wire(value.day_of_month),
            month=_ranges_from_wire(value.month),
            year=_ranges_from_wire(value.year),
            day_of_week=_ranges_from_wire(value.day_of_week),
            comment=value.comment,
        )


@dataclass
class ScheduleIntervalSpec:
    """Specification for scheduling on an interval.

    Matches times expressed as epoch + (n * every) + offset.
    """

    every: timedelta
    """Period to repeat the interval."""

    offset: timedelta | None = None
    """Fixed offset added to each interval period."""

    def to_wire(self) -> wire.ScheduleIntervalSpec:
        return wire.ScheduleIntervalSpec(every=self.every, offset=self.offset or timedelta(0))

    @staticmethod
    def from_wire(value: wire.ScheduleIntervalSpec) -> ScheduleIntervalSpec:
        return ScheduleIntervalSpec(every=value.every, offset=value.offset or None)


@dataclass
class ScheduleSpec:
    """Specification of the times scheduled actions may occur.

    The times are the union of `calendars`, `intervals`, and `cron_expressions` excluding anything
    in `skip` (docs/schedules.md).
    """

    calendars: Sequence[ScheduleCalendarSpec] = dataclasses.field(default_factory=list)
    """Calendar-based specification of times."""

    intervals: Sequence[ScheduleIntervalSpec] = dataclasses.field(default_factory=list)
    """Interval-based specification of times."""

    cron_expressions: Sequence[str] = dataclasses.field(default_factory=list)
    """Cron-based specification of times (compiled to calendars: 5, 6 or 7 fields, `@daily`...)."""

    skip: Sequence[ScheduleCalendarSpec] = dataclasses.field(default_factory=list)
    """Set of matching calendar times that will be skipped."""

    start_at: datetime | None = None
    """Time before which any matching times will be skipped."""

    end_at: datetime | None = None
    """Time after which any matching times will be skipped."""

    jitter: timedelta | None = None
    """Jitter to apply each action: a deterministic delay in [0, jitter), never past the next
    scheduled time."""

    time_zone_name: str | None = None
    """IANA time zone name, for example ``US/Central``."""

    def to_wire(self) -> wire.ScheduleSpec:
        """The schema model; raises pydantic's ValidationError (a ValueError) naming the field."""
        return wire.ScheduleSpec(
            calendars=tuple(c.to_wire() for c in self.calendars),
            intervals=tuple(i.to_wire() for i in self.intervals),
            cron_expressions=tuple(self.cron_expressions),
            skip=tuple(c.to_wire() for c in self.skip),
            start_at=self.start_at,
            end_at=self.end_at,
            jitter=self.jitter,
            time_zone_name=self.time_zone_name or None,
        )

    @staticmethod
    def from_wire(value: wire.ScheduleSpec) -> ScheduleSpec:
        return ScheduleSpec(
            calendars=[ScheduleCalendarSpec.from_wire(c) for c in value.calendars],
            intervals=[ScheduleIntervalSpec.from_wire(i) for i in value.intervals],
            cron_expressions=list(value.cron_expressions),
            skip=[ScheduleCalendarSpec.from_wire(c) for c in value.skip],
            start_at=value.start_at,
            end_at=value.end_at,
            jitter=value.jitter,
            time_zone_name=value.time_zone_name,
        )
