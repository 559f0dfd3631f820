"""The times a schedule spec names: pure, deterministic, bounded.

Rules (docs/schedules.md shows them with examples):

- **Resolution**: whole seconds, as Temporal. `after` is exclusive, `start_at`/`end_at` inclusive.
- **Calendars and crons match wall-clock time literally** in the spec's zone, as Temporal: a time
  in a spring-forward gap does not exist and is not taken (02:30 on the night Berlin jumps from
  02:00 to 03:00); a time in a fall-back overlap happens twice and is taken twice (01:30 EDT and
  01:30 EST in New York). The search runs over one UTC-offset segment at a time, which gives
  exactly that.
- **Intervals** are `epoch + n * every + offset`, independent of the zone.
- **Skip** calendars remove the times they match (same literal rule).
- **Jitter**: `actual = nominal + j`, `j` in `[0, min(jitter, next raw time - nominal))` with
  millisecond resolution, derived from a hash of (schedule id, nominal): recomputing after a crash
  gives the same actual time.
- **Bounds**: nothing later than `SEARCH_HORIZON` after the start of the search (or than
  `limits.MAX_TIMESTAMP`) is returned, and at most `MAX_SEARCH_STEPS` candidates are examined per
  call; a spec whose skips exclude every candidate for that long is treated as having no more
  times. `limit` is at most `MAX_LIMIT`.
"""

from __future__ import annotations

import functools
import hashlib
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta, tzinfo

from ..limits import MAX_TIMESTAMP
from .calendar import CompiledCalendar, compile_calendar
from .cron import effective_time_zone, parse_cron
from .errors import ScheduleSpecError
from .models import ScheduledTime, ScheduleSpec
from .zones import load_zone, segment_at

__all__ = [
    "MAX_LIMIT",
    "MAX_SEARCH_STEPS",
    "SEARCH_HORIZON",
    "action_times_between",
    "next_action_times",
]

SEARCH_HORIZON = timedelta(days=100 * 366)
MAX_SEARCH_STEPS = 100_000
MAX_LIMIT = 100_000

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_SECOND = timedelta(seconds=1)
_MAX_INSTANT = int(MAX_TIMESTAMP.timestamp())


@dataclass(frozen=True, kw_only=True)
class _CompiledSpec:
    zone: tzinfo
    calendars: tuple[CompiledCalendar, ...]
    intervals: tuple[tuple[int, int], ...]  # (every, offset) in seconds
    skips: tuple[CompiledCalendar, ...]
    start: int | None  # first allowed second (inclusive)
    end: int | None  # last allowed second (inclusive)
    jitter_ms: int

    def calendar_next(self, calendar: CompiledCalendar, after: int, limit: int) -> int | None:
        """The first instant after `after` (at most `limit`) whose wall-clock time matches."""
        while after < limit:
            offset, change = segment_at(self.zone, after + 1, limit)
            last = limit if change is None else change - 1
            wall = calendar.next_wall(after + offset, last + offset)
            if wall is not None:
                return wall - offset
            if change is None:
                return None
            after = change - 1
        return None

    def raw_next(self, after: int, limit: int) -> int | None:
        """The first time after `after` of any calendar or interval, ignoring skips."""
        best: int | None = None
        for every, offset in self.intervals:
            candidate = ((after - offset) // every + 1) * every + offset
            if candidate <= limit and (best is None or candidate < best):
                best = candidate
        for calendar in self.calendars:
            found = self.calendar_next(calendar, after, limit if best is None else best)
            if found is not None and (best is None or found < best):
                best = found
        return best

    def skipped_until(self, instant: int, limit: int) -> int | None:
        """If a skip calendar matches `instant`: the last instant of the run of skipped times
        starting there (so the search resumes after it). None if `instant` is not skipped."""
        if not self.skips:
            return None
        offset, change = segment_at(self.zone, instant, limit)
        wall = instant + offset
        for skip in self.skips:
            if skip.matches(wall):
                segment_last = limit if change is None else change - 1
                free = skip.unmatched_after(wall, segment_last + offset)
                return segment_last if free is None else free - offset - 1
        return None


def _compile(spec: ScheduleSpec) -> _CompiledSpec:
    """Compiled once per distinct spec: the server recomputes on every tick. Only small specs
    are cached (every real one); the cache holds its keys, and a large spec is a megabyte."""
    size = len(spec.cron_expressions) + sum(
        len(c.second) + len(c.minute) + len(c.hour) + len(c.day_of_month) + len(c.month)
        for c in (*spec.calendars, *spec.skip)
    )
    return _compile_cached(spec) if size <= _CACHED_SIZE else _compile_spec(spec)


_CACHED_SIZE = 100


@functools.lru_cache(maxsize=512)
def _compile_cached(spec: ScheduleSpec) -> _CompiledSpec:
    return _compile_spec(spec)


def _compile_spec(spec: ScheduleSpec) -> _CompiledSpec:
    calendars = [compile_calendar(c) for c in spec.calendars]
    intervals = [(int(i.every.total_seconds()), int(i.offset.total_seconds())) for i in spec.intervals]
    for expression in spec.cron_expressions:
        parsed = parse_cron(expression)
        if parsed.calendar is not None:
            calendars.append(compile_calendar(parsed.calendar))
        if parsed.interval is not None:
            every, offset = parsed.interval.every, parsed.interval.offset
            intervals.append((int(every.total_seconds()), int(offset.total_seconds())))
    return _CompiledSpec(
        zone=load_zone(effective_time_zone(spec)),
        calendars=tuple(c for c in calendars if not c.never),
        intervals=tuple(sorted(set(intervals))),
        skips=tuple(compile_calendar(c) for c in spec.skip),
        start=None if spec.start_at is None else _ceil_seconds(spec.start_at),
        end=None if spec.end_at is None else _floor_seconds(spec.end_at),
        jitter_ms=0 if spec.jitter is None else spec.jitter // timedelta(milliseconds=1),
    )


def _floor_seconds(value: datetime) -> int:
    return (value - _EPOCH) // _SECOND


def _ceil_seconds(value: datetime) -> int:
    return -((_EPOCH - value) // _SECOND)


def _check_aware(name: str, value: datetime) -> None:
    if value.tzinfo is None or value.utcoffset() is None:
        raise ScheduleSpecError(f"{name} needs a time zone (a naive datetime is ambiguous)")


def _check_limit(limit: int) -> None:
    if not 0 <= limit <= MAX_LIMIT:
        raise ScheduleSpecError(f"limit must be between 0 and {MAX_LIMIT}, not {limit}")


def _jitter(compiled: _CompiledSpec, schedule_id: str, nominal: int, limit: int) -> int:
    """Milliseconds to add to `nominal`: a hash of (schedule id, nominal) scaled into
    `[0, max)`, where max is the jitter, cut so the action stays before the next raw time."""
    if compiled.jitter_ms <= 0:
        return 0
    most = compiled.jitter_ms
    following = compiled.raw_next(nominal, max(limit, nominal + 1))
    if following is not None:
        most = min(most, (following - nominal) * 1000)
    digest = hashlib.blake2b(
        f"{schedule_id}\x00{nominal}".encode(errors="surrogatepass"), digest_size=8
    ).digest()
    return (int.from_bytes(digest, "big") * most) >> 64


def _times(
    compiled: _CompiledSpec, *, after: int, last: int, schedule_id: str, limit: int
) -> list[ScheduledTime]:
    """Up to `limit` times in `(after, last]`."""
    if compiled.start is not None:
        after = max(after, compiled.start - 1)
    after = max(after, -1)  # nothing before 1970
    last = min(last, _MAX_INSTANT, after + int(SEARCH_HORIZON.total_seconds()))
    if compiled.end is not None:
        last = min(last, compiled.end)
    nominals: list[int] = []
    steps = 0
    while len(nominals) < limit and after < last and steps < MAX_SEARCH_STEPS:
        steps += 1
        candidate = compiled.raw_next(after, last)
        if candidate is None:
            break
        resume = compiled.skipped_until(candidate, last)
        if resume is not None:
            after = max(resume, candidate)
            continue
        nominals.append(candidate)
        after = candidate
    jitter_limit = min(_MAX_INSTANT, after + int(SEARCH_HORIZON.total_seconds()))
    return [
        ScheduledTime(
            nominal=datetime.fromtimestamp(n, UTC),
            actual=datetime.fromtimestamp(n, UTC)
            + timedelta(milliseconds=_jitter(compiled, schedule_id, n, jitter_limit)),
        )
        for n in nominals
    ]


def next_action_times(
    spec: ScheduleSpec, *, after: datetime, schedule_id: str, limit: int
) -> list[ScheduledTime]:
    """The next `limit` times of `spec` whose nominal time is strictly after `after`."""
    _check_aware("after", after)
    _check_limit(limit)
    if limit == 0:
        return []
    return _times(
        _compile(spec), after=_floor_seconds(after), last=_MAX_INSTANT, schedule_id=schedule_id, limit=limit
    )


def action_times_between(
    spec: ScheduleSpec, *, start: datetime, end: datetime, schedule_id: str, limit: int
) -> list[ScheduledTime]:
    """The first `limit` times of `spec` whose nominal time is in `(start, end]` (backfill and
    catch-up)."""
    _check_aware("start", start)
    _check_aware("end", end)
    _check_limit(limit)
    if limit == 0 or end <= start:
        return []
    return _times(
        _compile(spec),
        after=_floor_seconds(start),
        last=_floor_seconds(end),
        schedule_id=schedule_id,
        limit=limit,
    )
