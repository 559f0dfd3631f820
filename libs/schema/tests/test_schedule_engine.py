"""The schedule engine: which times a spec names (tidal_schema.schedules.engine).

Checked three ways: tables of known times (DST in Berlin and New York, leap years, bounds),
hostile specs under a deadline, and a property test against a brute-force oracle that checks
every second of a window by converting it to wall-clock time with zoneinfo.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from tidal_schema.schedules import (
    MAX_LIMIT,
    MAX_SEARCH_STEPS,
    SEARCH_HORIZON,
    ScheduleCalendarSpec,
    ScheduledTime,
    ScheduleIntervalSpec,
    ScheduleRange,
    ScheduleSpec,
    ScheduleSpecError,
    action_times_between,
    next_action_times,
)

BERLIN = ZoneInfo("Europe/Berlin")
NEW_YORK = ZoneInfo("America/New_York")


def R(start: int, end: int = 0, step: int = 1) -> ScheduleRange:
    return ScheduleRange(start=start, end=end, step=step)


def utc(*args: int) -> datetime:
    return datetime(*args, tzinfo=UTC)  # type: ignore[misc]


def nominals(spec: ScheduleSpec, after: datetime, limit: int = 10) -> list[datetime]:
    return [t.nominal for t in next_action_times(spec, after=after, schedule_id="s", limit=limit)]


def between(spec: ScheduleSpec, start: datetime, end: datetime, limit: int = MAX_LIMIT) -> list[datetime]:
    return [t.nominal for t in action_times_between(spec, start=start, end=end, schedule_id="s", limit=limit)]


@contextmanager
def deadline(seconds: float) -> Iterator[None]:
    """The block must finish within `seconds` (generous: the machine is shared and noisy)."""
    started = time.perf_counter()
    yield
    elapsed = time.perf_counter() - started
    assert elapsed < seconds, f"took {elapsed:.2f}s, the bound is {seconds}s"


def cron(*expressions: str, zone: str | None = None, **kwargs: object) -> ScheduleSpec:
    return ScheduleSpec(cron_expressions=expressions, time_zone_name=zone, **kwargs)  # type: ignore[arg-type]


# --- basic forms ------------------------------------------------------------------------------


def test_every_minute_is_strictly_after() -> None:
    assert nominals(cron("* * * * *"), utc(2026, 5, 1, 10, 0), 3) == [
        utc(2026, 5, 1, 10, 1),
        utc(2026, 5, 1, 10, 2),
        utc(2026, 5, 1, 10, 3),
    ]
    # a fraction of a second after a matching time excludes it; before, includes it
    half = timedelta(milliseconds=500)
    assert nominals(cron("* * * * *"), utc(2026, 5, 1, 10, 0) + half, 1) == [utc(2026, 5, 1, 10, 1)]
    assert nominals(cron("* * * * *"), utc(2026, 5, 1, 10, 0) - half, 1) == [utc(2026, 5, 1, 10, 0)]


@pytest.mark.parametrize(
    ("expression", "after", "expected"),
    [
        ("@hourly", utc(2026, 5, 1, 10, 30), [utc(2026, 5, 1, 11), utc(2026, 5, 1, 12)]),
        ("@daily", utc(2026, 12, 31, 12), [utc(2027, 1, 1), utc(2027, 1, 2)]),
        ("@weekly", utc(2026, 5, 1), [utc(2026, 5, 3), utc(2026, 5, 10)]),  # Sundays
        ("@monthly", utc(2026, 1, 31), [utc(2026, 2, 1), utc(2026, 3, 1)]),
        ("@yearly", utc(2026, 5, 1), [utc(2027, 1, 1), utc(2028, 1, 1)]),
        ("*/20 9 * * MON-FRI", utc(2026, 5, 1, 9, 30), [utc(2026, 5, 1, 9, 40), utc(2026, 5, 4, 9)]),
        ("0 0 13 * FRI", utc(2026, 1, 1), [utc(2026, 2, 13), utc(2026, 3, 13)]),  # AND: Friday 13th
        ("0 0 31 * *", utc(2026, 1, 31), [utc(2026, 3, 31), utc(2026, 5, 31)]),
        ("0 12 * * * 2027", utc(2026, 5, 1), [utc(2027, 1, 1, 12), utc(2027, 1, 2, 12)]),
        ("0 12 31 12 * 2027", utc(2027, 12, 31, 12), []),
        ("15 30 2 * * * *", utc(2026, 5, 1), [utc(2026, 5, 1, 2, 30, 15), utc(2026, 5, 2, 2, 30, 15)]),
        ("*/15 * * * * * *", utc(2026, 5, 1), [utc(2026, 5, 1, 0, 0, 15), utc(2026, 5, 1, 0, 0, 30)]),
        ("@every 90m", utc(2026, 5, 1), [utc(2026, 5, 1, 1, 30), utc(2026, 5, 1, 3)]),
        ("0 0 29 2 *", utc(2026, 1, 1), [utc(2028, 2, 29), utc(2032, 2, 29)]),
        ("0 0 29 2 * 2100-2104", utc(2026, 1, 1), [utc(2104, 2, 29)]),  # 2100 is not a leap year
    ],
)
def test_cron_times(expression: str, after: datetime, expected: list[datetime]) -> None:
    assert nominals(cron(expression), after, len(expected)) == expected


def test_calendar_ranges_with_steps_and_lists() -> None:
    spec = ScheduleSpec(
        calendars=(
            ScheduleCalendarSpec(
                second=(R(0, 59, 30),), minute=(R(5), R(50, 59, 5)), hour=(R(8, 12, 4),), month=(R(6),)
            ),
        )
    )
    got = nominals(spec, utc(2026, 1, 1), 7)
    assert got == [
        utc(2026, 6, 1, 8, 5, 0),
        utc(2026, 6, 1, 8, 5, 30),
        utc(2026, 6, 1, 8, 50, 0),
        utc(2026, 6, 1, 8, 50, 30),
        utc(2026, 6, 1, 8, 55, 0),
        utc(2026, 6, 1, 8, 55, 30),
        utc(2026, 6, 1, 12, 5, 0),
    ]


def test_union_of_calendars_intervals_and_crons_without_duplicates() -> None:
    spec = ScheduleSpec(
        calendars=(ScheduleCalendarSpec(hour=(R(0, 23),)),),  # hourly
        intervals=(ScheduleIntervalSpec(every=timedelta(minutes=30)),),
        cron_expressions=("0 * * * *",),
    )
    assert nominals(spec, utc(2026, 5, 1), 4) == [
        utc(2026, 5, 1, 0, 30),
        utc(2026, 5, 1, 1),
        utc(2026, 5, 1, 1, 30),
        utc(2026, 5, 1, 2),
    ]


# --- intervals --------------------------------------------------------------------------------


def test_intervals_are_epoch_plus_n_every_plus_offset_whatever_the_zone() -> None:
    spec = ScheduleSpec(
        intervals=(ScheduleIntervalSpec(every=timedelta(hours=1), offset=timedelta(minutes=19)),)
    )
    expected = [utc(2026, 3, 29, 0, 19), utc(2026, 3, 29, 1, 19), utc(2026, 3, 29, 2, 19)]
    assert nominals(spec, utc(2026, 3, 29), 3) == expected
    in_berlin = spec.model_copy(update={"time_zone_name": "Europe/Berlin"})
    assert nominals(in_berlin, utc(2026, 3, 29), 3) == expected  # across Berlin's DST change
    # Temporal's documented example: 28 days with offset 3d 5h 23m matches 2022-02-20T05:23:00Z
    weeks = ScheduleIntervalSpec(every=timedelta(days=28), offset=timedelta(days=3, hours=5, minutes=23))
    assert utc(2022, 2, 20, 5, 23) in nominals(ScheduleSpec(intervals=(weeks,)), utc(2022, 1, 1), 3)


def test_one_second_interval_is_cheap() -> None:
    spec = ScheduleSpec(intervals=(ScheduleIntervalSpec(every=timedelta(seconds=1)),))
    with deadline(2.0):
        got = nominals(spec, utc(2026, 5, 1), 1000)
    assert got[0] == utc(2026, 5, 1, 0, 0, 1) and got[-1] == utc(2026, 5, 1, 0, 16, 40)


# --- time zones and DST -----------------------------------------------------------------------


def test_berlin_spring_forward_skips_the_missing_hour() -> None:
    # 2026-03-29: 02:00 CET -> 03:00 CEST; 02:30 does not exist that day
    got = nominals(cron("30 2 * * *", zone="Europe/Berlin"), utc(2026, 3, 27), 3)
    assert [t.astimezone(BERLIN).isoformat() for t in got] == [
        "2026-03-27T02:30:00+01:00",
        "2026-03-28T02:30:00+01:00",
        "2026-03-30T02:30:00+02:00",
    ]
    hourly = between(cron("0 * * * *", zone="Europe/Berlin"), utc(2026, 3, 28, 23), utc(2026, 3, 29, 22))
    assert len(hourly) == 23  # the local day has 23 hours


def test_berlin_fall_back_repeats_the_hour() -> None:
    # 2026-10-25: 03:00 CEST -> 02:00 CET; 02:30 happens twice, an hour apart
    got = nominals(cron("30 2 * * *", zone="Europe/Berlin"), utc(2026, 10, 24, 12), 3)
    assert [t.astimezone(BERLIN).isoformat() for t in got] == [
        "2026-10-25T02:30:00+02:00",
        "2026-10-25T02:30:00+01:00",
        "2026-10-26T02:30:00+01:00",
    ]
    hourly = between(cron("0 * * * *", zone="Europe/Berlin"), utc(2026, 10, 24, 22), utc(2026, 10, 25, 23))
    assert len(hourly) == 25


def test_new_york_spring_forward_and_fall_back() -> None:
    spring = nominals(cron("30 2 * * *", zone="America/New_York"), utc(2026, 3, 7), 2)
    assert [t.astimezone(NEW_YORK).isoformat() for t in spring] == [
        "2026-03-07T02:30:00-05:00",
        "2026-03-09T02:30:00-04:00",
    ]
    fall = nominals(cron("30 1 * * *", zone="America/New_York"), utc(2026, 10, 31, 12), 3)
    assert [t.isoformat() for t in fall] == [
        "2026-11-01T05:30:00+00:00",  # 01:30 EDT
        "2026-11-01T06:30:00+00:00",  # 01:30 EST
        "2026-11-02T06:30:00+00:00",
    ]
    # every minute through the repeated hour: 01:00-01:59 twice, in UTC order
    minutes = between(cron("* 1 * * *", zone="America/New_York"), utc(2026, 11, 1, 4), utc(2026, 11, 1, 8))
    assert len(minutes) == 120
    assert (
        minutes == sorted(minutes)
        and minutes[0] == utc(2026, 11, 1, 5)
        and minutes[-1] == utc(2026, 11, 1, 6, 59)
    )


def test_cron_tz_prefix_is_the_spec_zone() -> None:
    assert nominals(cron("CRON_TZ=Asia/Tokyo 0 9 * * *"), utc(2026, 4, 30, 12), 1) == [utc(2026, 5, 1, 0)]


def test_skip_matches_wall_clock_in_the_zone() -> None:
    spec = cron(
        "0 * * * *",
        zone="Asia/Tokyo",
        skip=(ScheduleCalendarSpec(minute=(R(0, 59),), hour=(R(0, 8),)),),
    )  # nothing 00:00-08:59 Tokyo (15:00-23:59 UTC the day before)
    got = nominals(spec, utc(2026, 5, 1, 14), 2)
    assert got == [utc(2026, 5, 2, 0), utc(2026, 5, 2, 1)]


# --- bounds: start_at, end_at, skip -----------------------------------------------------------


def test_start_and_end_are_inclusive() -> None:
    spec = cron("@daily", start_at=utc(2026, 5, 3), end_at=utc(2026, 5, 5))
    assert nominals(spec, utc(2026, 1, 1)) == [utc(2026, 5, 3), utc(2026, 5, 4), utc(2026, 5, 5)]
    assert nominals(spec, utc(2026, 5, 5)) == []
    late_start = cron("@daily", start_at=utc(2026, 5, 3, 0, 0, 0) + timedelta(microseconds=1))
    assert nominals(late_start, utc(2026, 1, 1), 1) == [utc(2026, 5, 4)]


def test_skip_removes_times_and_jumps_over_runs() -> None:
    christmas = ScheduleCalendarSpec(month=(R(12),), day_of_month=(R(24, 26),), hour=(R(0, 23),))
    spec = cron("0 12 * * *", skip=(christmas,))
    assert nominals(spec, utc(2026, 12, 22), 3) == [
        utc(2026, 12, 22, 12),
        utc(2026, 12, 23, 12),
        utc(2026, 12, 27, 12),
    ]
    # every second, but not during working hours: one jump over 8 hours of candidates
    workday = ScheduleCalendarSpec(second=(R(0, 59),), minute=(R(0, 59),), hour=(R(9, 16),))
    every_second = ScheduleSpec(
        intervals=(ScheduleIntervalSpec(every=timedelta(seconds=1)),), skip=(workday,)
    )
    with deadline(1.0):
        got = nominals(every_second, utc(2026, 5, 1, 8, 59, 58), 3)
    assert got == [utc(2026, 5, 1, 8, 59, 59), utc(2026, 5, 1, 17), utc(2026, 5, 1, 17, 0, 1)]


def test_skip_everything_gives_nothing_quickly() -> None:
    everything = ScheduleCalendarSpec(second=(R(0, 59),), minute=(R(0, 59),), hour=(R(0, 23),))
    spec = ScheduleSpec(intervals=(ScheduleIntervalSpec(every=timedelta(seconds=1)),), skip=(everything,))
    with deadline(2.0):
        assert nominals(spec, utc(2026, 5, 1)) == []


def test_skips_that_alternate_are_bounded_by_the_step_budget() -> None:
    # two skips that together cover every second: each candidate jumps only half a minute
    halves = (
        ScheduleCalendarSpec(second=(R(0, 29),), minute=(R(0, 59),), hour=(R(0, 23),)),
        ScheduleCalendarSpec(second=(R(30, 59),), minute=(R(0, 59),), hour=(R(0, 23),)),
    )
    spec = ScheduleSpec(intervals=(ScheduleIntervalSpec(every=timedelta(seconds=1)),), skip=halves)
    with deadline(20.0):
        assert nominals(spec, utc(2026, 5, 1)) == []
    assert MAX_SEARCH_STEPS <= 100_000


# --- hostile specs: an answer or an error, never a hang ----------------------------------------


@pytest.mark.parametrize(
    "spec",
    [
        ScheduleSpec(calendars=(ScheduleCalendarSpec(month=(R(2),), day_of_month=(R(30),)),)),
        ScheduleSpec(
            calendars=(ScheduleCalendarSpec(month=(R(4), R(6), R(9), R(11)), day_of_month=(R(31),)),)
        ),
        ScheduleSpec(calendars=(ScheduleCalendarSpec(second=()),)),
        ScheduleSpec(calendars=(ScheduleCalendarSpec(year=(R(2020),)),)),  # in the past
        # Feb 29 that is a Monday, in years that never have one
        ScheduleSpec(
            calendars=(
                ScheduleCalendarSpec(
                    month=(R(2),), day_of_month=(R(29),), day_of_week=(R(1),), year=(R(2101, 2103),)
                ),
            )
        ),
        cron("0 0 29 2 * 8999", zone="Europe/Berlin"),  # beyond the search horizon
        cron("0 0 30 2 *", zone="America/New_York"),
        cron("*/2147483647 * * * *"),
    ],
)
def test_specs_that_never_match_return_empty_quickly(spec: ScheduleSpec) -> None:
    with deadline(3.0):
        got = nominals(spec, utc(2026, 5, 1))
    assert all(t > utc(2026, 5, 1) for t in got)
    assert len(got) <= 10


def test_a_sparse_spec_in_a_dst_zone_far_ahead_is_found_in_bounded_time() -> None:
    with deadline(3.0):
        got = nominals(cron("0 0 1 1 * 2110", zone="Europe/Berlin"), utc(2026, 5, 1), 2)
    assert [t.astimezone(BERLIN).isoformat() for t in got] == ["2110-01-01T00:00:00+01:00"]


def test_the_search_stops_at_its_horizon() -> None:
    """Nothing more than SEARCH_HORIZON (100 years) after the search starts."""
    assert SEARCH_HORIZON == timedelta(days=100 * 366)
    assert nominals(cron("0 0 1 1 * 2120"), utc(2026, 5, 1)) == [utc(2120, 1, 1)]
    assert nominals(cron("0 0 1 1 * 2130"), utc(2026, 5, 1)) == []
    assert nominals(cron("0 0 1 1 * 2130"), utc(2040, 5, 1)) == [utc(2130, 1, 1)]


def test_the_end_of_time_is_not_an_error() -> None:
    assert nominals(cron("* * * * *"), utc(8999, 12, 31, 23, 58), 5) == [
        utc(8999, 12, 31, 23, 59),
        utc(9000, 1, 1),
    ]
    assert nominals(cron("* * * * *"), utc(9999, 12, 31, 23, 58), 5) == []


def test_limits_and_naive_datetimes_are_refused() -> None:
    spec = cron("@daily")
    with pytest.raises(ScheduleSpecError, match="limit"):
        next_action_times(spec, after=utc(2026, 1, 1), schedule_id="s", limit=-1)
    with pytest.raises(ScheduleSpecError, match="limit"):
        next_action_times(spec, after=utc(2026, 1, 1), schedule_id="s", limit=MAX_LIMIT + 1)
    with pytest.raises(ScheduleSpecError, match="after needs a time zone"):
        next_action_times(spec, after=datetime(2026, 1, 1), schedule_id="s", limit=1)
    with pytest.raises(ScheduleSpecError, match="end needs a time zone"):
        action_times_between(spec, start=utc(2026, 1, 1), end=datetime(2026, 2, 1), schedule_id="s", limit=1)
    assert next_action_times(spec, after=utc(2026, 1, 1), schedule_id="s", limit=0) == []


def test_the_largest_limit_of_a_one_second_interval_is_bounded() -> None:
    spec = ScheduleSpec(intervals=(ScheduleIntervalSpec(every=timedelta(seconds=1)),))
    with deadline(30.0):
        got = next_action_times(spec, after=utc(2026, 1, 1), schedule_id="s", limit=MAX_LIMIT)
    assert len(got) == MAX_LIMIT


# --- between (backfill, catch-up) -------------------------------------------------------------


def test_thirty_days_of_daily_are_exactly_thirty_times() -> None:
    start = utc(2026, 5, 1)
    got = between(cron("@daily"), start, start + timedelta(days=30))
    assert len(got) == 30
    assert got[0] == utc(2026, 5, 2) and got[-1] == utc(2026, 5, 31)
    in_berlin = between(cron("@daily", zone="Europe/Berlin"), utc(2026, 3, 15), utc(2026, 4, 14))
    assert len(in_berlin) == 30  # across spring-forward


def test_between_is_start_exclusive_end_inclusive_and_honours_limit() -> None:
    got = between(cron("@hourly"), utc(2026, 5, 1, 1), utc(2026, 5, 1, 4))
    assert got == [utc(2026, 5, 1, 2), utc(2026, 5, 1, 3), utc(2026, 5, 1, 4)]
    assert between(cron("@hourly"), utc(2026, 5, 1, 1), utc(2026, 5, 1, 4), limit=2) == got[:2]
    assert between(cron("@hourly"), utc(2026, 5, 1, 4), utc(2026, 5, 1, 1)) == []
    bounded = cron("@hourly", start_at=utc(2026, 5, 1, 3), end_at=utc(2026, 5, 1, 3))
    assert between(bounded, utc(2026, 5, 1), utc(2026, 5, 2)) == [utc(2026, 5, 1, 3)]


# --- jitter -----------------------------------------------------------------------------------


def _jittered(spec: ScheduleSpec, schedule_id: str = "s", limit: int = 50) -> list[ScheduledTime]:
    return next_action_times(spec, after=utc(2026, 5, 1), schedule_id=schedule_id, limit=limit)


def test_jitter_is_deterministic_and_within_bounds() -> None:
    spec = cron("@hourly", jitter=timedelta(minutes=10))
    first = _jittered(spec)
    assert first == _jittered(spec.model_copy())  # a recomputation (after a crash) agrees
    again = ScheduleSpec.model_validate_json(spec.model_dump_json())
    assert first == _jittered(again)
    for t in first:
        assert t.nominal <= t.actual < t.nominal + timedelta(minutes=10)
        assert (t.actual - t.nominal) % timedelta(milliseconds=1) == timedelta(0)
    assert len({t.actual - t.nominal for t in first}) > 40  # spread, not constant
    other = _jittered(spec, schedule_id="other")
    assert [t.nominal for t in other] == [t.nominal for t in first]
    assert [t.actual for t in other] != [t.actual for t in first]


def test_jitter_never_reaches_the_next_time() -> None:
    spec = ScheduleSpec(
        intervals=(ScheduleIntervalSpec(every=timedelta(seconds=10)),), jitter=timedelta(hours=1)
    )
    got = _jittered(spec, limit=200)
    assert all(t.actual < t.nominal + timedelta(seconds=10) for t in got)
    assert max(t.actual - t.nominal for t in got) > timedelta(seconds=8)


def test_no_jitter_means_actual_is_nominal() -> None:
    assert all(t.actual == t.nominal for t in _jittered(cron("@hourly")))
    assert all(t.actual == t.nominal for t in _jittered(cron("@hourly", jitter=timedelta(0))))


# --- property: every returned time matches, and none is missed ---------------------------------

_ZONES = ["UTC", "Europe/Berlin", "America/New_York", "Australia/Lord_Howe", "Asia/Kolkata", "Pacific/Apia"]


def _field(low: int, high: int) -> st.SearchStrategy[tuple[ScheduleRange, ...]]:
    one = st.tuples(st.integers(low, high), st.integers(low, high), st.integers(1, 12)).map(
        lambda t: R(min(t[0], t[1]), max(t[0], t[1]), t[2])
    )
    return st.lists(one, min_size=1, max_size=3).map(tuple)


_calendars = st.builds(
    ScheduleCalendarSpec,
    second=st.sampled_from([(R(0),), (R(0, 59, 30),)]),
    minute=_field(0, 59),
    hour=_field(0, 23),
    day_of_month=st.one_of(st.just((R(1, 31),)), _field(1, 31)),
    month=st.one_of(st.just((R(1, 12),)), _field(1, 12)),
    day_of_week=st.one_of(st.just((R(0, 6),)), _field(0, 6)),
)


_skips = st.builds(
    ScheduleCalendarSpec,
    second=st.sampled_from([(R(0),), (R(0, 59, 30),), (R(0, 59),)]),
    minute=st.one_of(st.just((R(0, 59),)), _field(0, 59)),
    hour=st.one_of(st.just((R(0, 23),)), _field(0, 23)),
    day_of_month=st.one_of(st.just((R(1, 31),)), _field(1, 31)),
    day_of_week=st.one_of(st.just((R(0, 6),)), _field(0, 6)),
)


def _values(ranges: tuple[ScheduleRange, ...]) -> set[int]:
    return {v for r in ranges for v in range(r.start, r.end + 1, r.step)}


def _oracle(calendar: ScheduleCalendarSpec, zone: str, start: int, end: int) -> list[datetime]:
    """Every matching second in (start, end]: each candidate second converted with zoneinfo."""
    tz = ZoneInfo(zone)
    seconds = _values(calendar.second)
    fields = {name: _values(getattr(calendar, name)) for name in ("minute", "hour", "day_of_month", "month")}
    days = _values(calendar.day_of_week)
    found = []
    for minute_start in range(start - start % 60, end + 1, 60):
        for second in sorted(seconds):
            instant = minute_start + second
            if not start < instant <= end:
                continue
            wall = datetime.fromtimestamp(instant, tz)
            if (
                wall.minute in fields["minute"]
                and wall.hour in fields["hour"]
                and wall.day in fields["day_of_month"]
                and wall.month in fields["month"]
                and (wall.weekday() + 1) % 7 in days
            ):
                found.append(datetime.fromtimestamp(instant, UTC))
    return found


# windows around DST changes of the zones above, and ordinary days
_WINDOW_STARTS = [
    utc(2026, 3, 28, 12),
    utc(2026, 10, 24, 12),
    utc(2026, 3, 7, 12),
    utc(2026, 10, 31, 12),
    utc(2026, 4, 4, 6),  # Lord Howe: 30-minute change
    utc(2011, 12, 29, 0),  # Apia skipped 30 December 2011 entirely
    utc(2028, 2, 28, 0),
]


@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(calendar=_calendars, zone=st.sampled_from(_ZONES), window=st.sampled_from(_WINDOW_STARTS))
def test_engine_agrees_with_a_brute_force_oracle(
    calendar: ScheduleCalendarSpec, zone: str, window: datetime
) -> None:
    start, end = int(window.timestamp()), int(window.timestamp()) + 3 * 86400
    spec = ScheduleSpec(calendars=(calendar,), time_zone_name=zone)
    got = between(spec, window, window + timedelta(days=3))
    assert got == _oracle(calendar, zone, start, end)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(skip=_skips, zone=st.sampled_from(_ZONES), window=st.sampled_from(_WINDOW_STARTS))
def test_skip_agrees_with_the_oracle(skip: ScheduleCalendarSpec, zone: str, window: datetime) -> None:
    """Every 30 seconds, minus a random skip calendar: the engine's run-skipping jumps must
    remove exactly the times the skip matches."""
    start, end = int(window.timestamp()), int(window.timestamp()) + 86400
    every = ScheduleIntervalSpec(every=timedelta(seconds=30))
    spec = ScheduleSpec(intervals=(every,), skip=(skip,), time_zone_name=zone)
    got = between(spec, window, window + timedelta(days=1))
    skipped = set(_oracle(skip, zone, start, end))
    expected = [datetime.fromtimestamp(t, UTC) for t in range(start - start % 30 + 30, end + 1, 30)]
    assert got == [t for t in expected if t not in skipped]


@settings(max_examples=60, deadline=None)
@given(
    calendar=_calendars,
    zone=st.sampled_from(_ZONES),
    after=st.datetimes(
        min_value=datetime(2000, 1, 1), max_value=datetime(2100, 1, 1), timezones=st.just(UTC)
    ),
)
def test_next_times_match_the_spec_and_strictly_increase(
    calendar: ScheduleCalendarSpec, zone: str, after: datetime
) -> None:
    spec = ScheduleSpec(calendars=(calendar,), time_zone_name=zone)
    with deadline(5.0):
        got = nominals(spec, after, 5)
    previous = after
    tz = ZoneInfo(zone)
    for t in got:
        assert t > previous
        previous = t
        wall = t.astimezone(tz)
        assert wall.second in _values(calendar.second)
        assert wall.minute in _values(calendar.minute)
        assert wall.hour in _values(calendar.hour)
        assert wall.day in _values(calendar.day_of_month)
        assert wall.month in _values(calendar.month)
        assert (wall.weekday() + 1) % 7 in _values(calendar.day_of_week)


# --- sizes: what a hostile spec can make the engine hold ---------------------------------------


def test_wide_year_ranges_compile_without_enumerating_years() -> None:
    """1,800 ranges of 7,030 years each: enumerated, 13 million values (seconds, and hundreds of
    megabytes held by the compile cache); as arithmetic on the ranges, nothing."""
    wide = tuple(R(1970, 8999, 1 + i % 3) for i in range(100))
    spec = ScheduleSpec(calendars=tuple(ScheduleCalendarSpec(year=wide, second=(R(i),)) for i in range(18)))
    with deadline(0.5):  # enumerating them took 2.3 s here
        got = nominals(spec, utc(2026, 5, 1), 3)
    assert got == [utc(2026, 5, 1, 0, 0, 1), utc(2026, 5, 1, 0, 0, 2), utc(2026, 5, 1, 0, 0, 3)]
