"""Schedule specs: the models' validation and the cron compiler (tidal_schema.schedules)."""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from pydantic import ValidationError
from tidal_schema.schedules import (
    ScheduleCalendarSpec,
    ScheduleIntervalSpec,
    ScheduleRange,
    ScheduleSpec,
    ScheduleSpecError,
    parse_cron,
)


def R(start: int, end: int = 0, step: int = 1) -> ScheduleRange:
    return ScheduleRange(start=start, end=end, step=step)


# --- ranges and calendars ---------------------------------------------------------------------


@pytest.mark.parametrize(
    ("given", "expected"),
    [
        ({"start": 5}, (5, 5, 1)),
        ({"start": 5, "end": 0}, (5, 5, 1)),
        ({"start": 5, "end": 3}, (5, 5, 1)),
        ({"start": 5, "end": 9, "step": 0}, (5, 9, 1)),
        ({"start": 0, "end": 59, "step": 15}, (0, 59, 15)),
    ],
)
def test_a_range_normalises_as_temporal(given: dict[str, int], expected: tuple[int, int, int]) -> None:
    r = ScheduleRange(**given)
    assert (r.start, r.end, r.step) == expected


@pytest.mark.parametrize(
    "given", [{"start": -1}, {"start": 1, "end": -3}, {"start": 1, "step": -1}, {"start": 10**30}]
)
def test_a_range_refuses_negative_and_huge_numbers(given: dict[str, int]) -> None:
    with pytest.raises(ValidationError):
        ScheduleRange(**given)


def test_calendar_defaults_are_temporalio_s() -> None:
    c = ScheduleCalendarSpec()
    assert c.second == c.minute == c.hour == (R(0),)
    assert c.day_of_month == (R(1, 31),)
    assert c.month == (R(1, 12),)
    assert c.year == ()
    assert c.day_of_week == (R(0, 6),)
    assert c.comment is None


@pytest.mark.parametrize(
    ("field", "bad"),
    [
        ("second", R(60)),
        ("minute", R(0, 60)),
        ("hour", R(24)),
        ("day_of_month", R(0)),
        ("day_of_month", R(1, 32)),
        ("month", R(13)),
        ("month", R(0)),
        ("day_of_week", R(7)),
        ("year", R(1969)),
        ("year", R(1000)),
    ],
)
def test_calendar_ranges_out_of_bounds_are_refused_naming_the_field(field: str, bad: ScheduleRange) -> None:
    with pytest.raises(ValidationError, match=field):
        ScheduleCalendarSpec(**{field: (bad,)})


def test_year_9999_is_refused() -> None:
    with pytest.raises(ValidationError):
        ScheduleCalendarSpec(year=(R(9999),))


def test_a_range_from_lax_json_is_normalised_too() -> None:
    r = ScheduleRange.model_validate_json('{"start": "5", "end": "3", "step": "0"}')
    assert (r.start, r.end, r.step) == (5, 5, 1)


def test_the_spec_caps_its_ranges_in_total() -> None:
    many = ScheduleCalendarSpec(minute=tuple(R(i % 60) for i in range(100)))
    with pytest.raises(
        ValidationError, match="calendars and skip hold 2100 ranges together; the limit is 2000"
    ):
        ScheduleSpec(calendars=(many,) * 10, skip=(many,) * 10)


def test_too_many_ranges_and_a_nul_comment_are_refused() -> None:
    with pytest.raises(ValidationError, match="minute"):
        ScheduleCalendarSpec(minute=tuple(R(i % 60) for i in range(101)))
    with pytest.raises(ValidationError, match="comment"):
        ScheduleCalendarSpec(comment="a\x00b")
    with pytest.raises(ValidationError, match="comment"):
        ScheduleCalendarSpec(comment="x" * 1001)


# --- intervals --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("every", "offset", "match"),
    [
        (timedelta(0), timedelta(0), "every"),
        (timedelta(seconds=-5), timedelta(0), "every"),
        (timedelta(milliseconds=500), timedelta(0), "every"),
        (timedelta(minutes=1), timedelta(minutes=1), "offset"),
        (timedelta(minutes=1), timedelta(minutes=2), "offset"),
        (timedelta(minutes=1), timedelta(seconds=-1), "offset"),
        (timedelta(days=365 * 200), timedelta(0), "every"),
    ],
)
def test_bad_intervals_are_refused_naming_the_field(every: timedelta, offset: timedelta, match: str) -> None:
    with pytest.raises(ValidationError, match=match):
        ScheduleIntervalSpec(every=every, offset=offset)


def test_intervals_truncate_to_whole_seconds_as_temporal() -> None:
    i = ScheduleIntervalSpec(every=timedelta(seconds=90.7), offset=timedelta(seconds=3.2))
    assert (i.every, i.offset) == (timedelta(seconds=90), timedelta(seconds=3))


# --- the spec ---------------------------------------------------------------------------------

_DAILY = ("@daily",)


def test_a_spec_needs_something_to_schedule() -> None:
    with pytest.raises(ValidationError, match="at least one of calendars, intervals or cron_expressions"):
        ScheduleSpec()
    with pytest.raises(ValidationError, match="at least one"):
        ScheduleSpec(skip=(ScheduleCalendarSpec(),))


def test_end_before_start_is_refused_and_equal_is_fine() -> None:
    start = datetime(2026, 1, 2, tzinfo=UTC)
    with pytest.raises(ValidationError, match=r"end_at .* is before start_at"):
        ScheduleSpec(cron_expressions=_DAILY, start_at=start, end_at=start - timedelta(seconds=1))
    ScheduleSpec(cron_expressions=_DAILY, start_at=start, end_at=start)


def test_start_and_end_need_a_zone_and_are_kept_in_utc() -> None:
    with pytest.raises(ValidationError, match="start_at"):
        ScheduleSpec(cron_expressions=_DAILY, start_at=datetime(2026, 1, 1))
    from zoneinfo import ZoneInfo

    spec = ScheduleSpec(
        cron_expressions=_DAILY, start_at=datetime(2026, 1, 1, 1, tzinfo=ZoneInfo("Europe/Berlin"))
    )
    assert spec.start_at == datetime(2026, 1, 1, 0, tzinfo=UTC)
    assert spec.start_at is not None and spec.start_at.tzinfo is UTC


@pytest.mark.parametrize(
    "zone", ["Mars/Olympus", "../../etc/passwd", "/usr/share/zoneinfo/UTC", "Europe/Berlin\x00", "localtime"]
)
def test_unknown_time_zones_are_refused(zone: str) -> None:
    with pytest.raises(ValidationError, match="time_zone_name"):
        ScheduleSpec(cron_expressions=_DAILY, time_zone_name=zone)


def test_empty_time_zone_is_utc_as_temporalio_sends_it() -> None:
    assert ScheduleSpec(cron_expressions=_DAILY, time_zone_name="").time_zone_name is None
    assert ScheduleSpec(cron_expressions=_DAILY, time_zone_name="America/New_York").time_zone_name


@pytest.mark.parametrize("jitter", [timedelta(seconds=-1), timedelta(days=365 * 200)])
def test_bad_jitter_is_refused(jitter: timedelta) -> None:
    with pytest.raises(ValidationError, match="jitter"):
        ScheduleSpec(cron_expressions=_DAILY, jitter=jitter)


def test_the_spec_caps_its_lists_and_cron_strings() -> None:
    with pytest.raises(ValidationError, match="cron_expressions"):
        ScheduleSpec(cron_expressions=("@daily",) * 101)
    with pytest.raises(ValidationError, match="calendars"):
        ScheduleSpec(calendars=(ScheduleCalendarSpec(),) * 101)
    with pytest.raises(ValidationError, match="cron_expressions"):
        ScheduleSpec(cron_expressions=(" ".join(["*"] * 10_000),))
    with pytest.raises(ValidationError, match="cron_expressions"):
        ScheduleSpec(cron_expressions=("0 0 * * *\x00",))


def test_the_spec_round_trips_through_json() -> None:
    spec = ScheduleSpec(
        calendars=(ScheduleCalendarSpec(hour=(R(9, 17, 2),), comment="work"),),
        intervals=(ScheduleIntervalSpec(every=timedelta(hours=1), offset=timedelta(minutes=5)),),
        cron_expressions=("*/5 * * * MON-FRI",),
        skip=(ScheduleCalendarSpec(month=(R(12),), day_of_month=(R(25),)),),
        start_at=datetime(2026, 1, 1, tzinfo=UTC),
        end_at=datetime(2027, 1, 1, tzinfo=UTC),
        jitter=timedelta(seconds=30),
        time_zone_name="Europe/Berlin",
    )
    assert ScheduleSpec.model_validate_json(spec.model_dump_json()) == spec
    assert hash(spec) == hash(ScheduleSpec.model_validate_json(spec.model_dump_json()))


# --- cron -------------------------------------------------------------------------------------


def _cal(**fields: tuple[ScheduleRange, ...]) -> ScheduleCalendarSpec:
    return ScheduleCalendarSpec(**fields)


@pytest.mark.parametrize(
    ("cron", "calendar"),
    [
        ("* * * * *", _cal(minute=(R(0, 59),), hour=(R(0, 23),), day_of_week=(R(0, 6),))),
        ("0 0 * * *", _cal(day_of_week=(R(0, 6),))),
        ("@daily", _cal()),
        ("@midnight", _cal()),
        ("@hourly", _cal(hour=(R(0, 23),))),
        ("@weekly", _cal(day_of_week=(R(0),))),
        ("@monthly", _cal(day_of_month=(R(1),))),
        ("@yearly", _cal(day_of_month=(R(1),), month=(R(1),))),
        ("@annually", _cal(day_of_month=(R(1),), month=(R(1),))),
        ("*/15 9-17 * * MON-FRI", _cal(minute=(R(0, 59, 15),), hour=(R(9, 17),), day_of_week=(R(1, 5),))),
        ("5/20 * * * *", _cal(minute=(R(5, 59, 20),), hour=(R(0, 23),))),
        ("0 12 1,15 JAN,jul *", _cal(hour=(R(12),), day_of_month=(R(1), R(15)), month=(R(1), R(7)))),
        ("0 12 * February-april *", _cal(hour=(R(12),), month=(R(2, 4),))),
        ("0 0 * * sun,Sa", _cal(day_of_week=(R(0), R(6)))),
        ("0 0 * * 7", _cal(day_of_week=(R(0),))),
        ("0 0 * * 5-7", _cal(day_of_week=(R(5, 6), R(0)))),
        ("0 0 * * 1-7/2", _cal(day_of_week=(R(1, 6, 2), R(0)))),
        # 6 fields: year last (Temporal's cron_string)
        ("0 12 * * * 2027", _cal(hour=(R(12),), year=(R(2027),))),
        ("0 12 * * * 2027-2030/3", _cal(hour=(R(12),), year=(R(2027, 2030, 3),))),
        ("0 12 * * * *", _cal(hour=(R(12),))),
        # 7 fields: seconds first, year last
        ("30 0 12 * * * *", _cal(second=(R(30),), hour=(R(12),))),
        (
            "*/10 * * * * * 2030",
            _cal(second=(R(0, 59, 10),), minute=(R(0, 59),), hour=(R(0, 23),), year=(R(2030),)),
        ),
        ("0 0 * * * # nightly", _cal(comment="nightly")),
    ],
)
def test_cron_forms_compile_to_calendars(cron: str, calendar: ScheduleCalendarSpec) -> None:
    parsed = parse_cron(cron)
    assert parsed.interval is None and parsed.time_zone is None
    assert parsed.calendar is not None
    # "*" in day of week compiles to 0-6 (plus Sunday again from the 7); compare matched values
    for field in ("second", "minute", "hour", "day_of_month", "month", "year", "day_of_week"):
        ours = {v for r in getattr(parsed.calendar, field) for v in r.values()}
        theirs = {v for r in getattr(calendar, field) for v in r.values()}
        assert ours == theirs, field
    assert parsed.calendar.comment == calendar.comment


@pytest.mark.parametrize(
    ("cron", "every", "offset"),
    [
        ("@every 30s", timedelta(seconds=30), timedelta(0)),
        ("@every 1h30m", timedelta(minutes=90), timedelta(0)),
        ("@every 1d/6h", timedelta(days=1), timedelta(hours=6)),
    ],
)
def test_every_compiles_to_an_interval(cron: str, every: timedelta, offset: timedelta) -> None:
    parsed = parse_cron(cron)
    assert parsed.calendar is None
    assert parsed.interval == ScheduleIntervalSpec(every=every, offset=offset)


def test_cron_tz_prefix_sets_the_zone() -> None:
    assert parse_cron("CRON_TZ=Europe/Berlin 0 9 * * *").time_zone == "Europe/Berlin"
    assert parse_cron("TZ=America/New_York @daily").time_zone == "America/New_York"
    spec = ScheduleSpec(cron_expressions=("CRON_TZ=Europe/Berlin 0 9 * * *",))
    assert spec.time_zone_name is None  # the zone stays in the string; the engine reads it


@pytest.mark.parametrize(
    ("cron", "message"),
    [
        ("", "0 fields"),
        ("* * * *", "4 fields"),
        ("* * * * * * * *", "8 fields"),
        ("60 * * * *", "minute field '60': 60 is out of range 0-59"),
        ("* 24 * * *", "hour field '24': 24 is out of range 0-23"),
        ("* * 0 * *", "day_of_month field '0'"),
        ("* * 32 * *", "day_of_month field '32'"),
        ("* * * 13 *", "month field '13'"),
        ("* * * * 8", "day_of_week field '8'"),
        ("* * * FOO *", "month field 'FOO': 'FOO' is not a number or a month name"),
        ("* * * * XY", "day_of_week field 'XY'"),
        ("* * * * * 1969", "year field '1969'"),
        ("* * * * * 9999", "year field '9999'"),
        ("*/0 * * * *", "minute field '\\*/0': step 0 must be between 1"),
        ("*/-1 * * * *", "step '-1' is not a positive integer"),
        ("*/99999999999 * * * *", "step"),
        ("5-3 * * * *", "range '5-3' ends before it starts"),
        ("-5 * * * *", "minute field '-5'"),
        ("1,,2 * * * *", "minute field"),
        ("1-2-3 * * * *", "minute field"),
        ("L * * * *", "minute field 'L'"),
        ("0 0 ? * *", "day_of_month field"),
        ("@fortnightly", "unknown shorthand"),
        ("@every", "@every interval"),
        ("@every 0s", "every"),
        ("@every 5x", "@every interval '5x'"),
        ("@every 1h/2h", "offset"),
        ("CRON_TZ=Mars/Base 0 0 * * *", "unknown time zone"),
        ("CRON_TZ= 0 0 * * *", "names no time zone"),
        ("0 0 * * *\x00", "NUL"),
        ("1" * 1001, "longer than 1000"),
        (",".join(["1"] * 101) + " * * * *", "more than 100 list items"),
    ],
)
def test_bad_cron_strings_say_which_field_and_why(cron: str, message: str) -> None:
    with pytest.raises(ScheduleSpecError, match=message):
        parse_cron(cron)


def test_a_bad_cron_in_a_spec_names_its_index() -> None:
    with pytest.raises(ValidationError, match=r"cron_expressions\[1\] '0 25 \* \* \*': hour field"):
        ScheduleSpec(cron_expressions=("@daily", "0 25 * * *"))


def test_crons_must_agree_on_their_zone() -> None:
    with pytest.raises(ValidationError, match="disagree on CRON_TZ"):
        ScheduleSpec(cron_expressions=("CRON_TZ=Europe/Berlin @daily", "@hourly"))
    with pytest.raises(ValidationError, match="conflicts with time_zone_name"):
        ScheduleSpec(cron_expressions=("CRON_TZ=Europe/Berlin @daily",), time_zone_name="Asia/Tokyo")
    ScheduleSpec(cron_expressions=("CRON_TZ=Europe/Berlin @daily",), time_zone_name="Europe/Berlin")


# --- fuzz: any text is a calendar or a ScheduleSpecError, at once --------------------------------

_TOKENS = st.sampled_from(
    [
        "*",
        "*/",
        "/",
        "-",
        ",",
        "0",
        "7",
        "59",
        "60",
        "2027",
        "9999",
        "JAN",
        "mon",
        "ju",
        "L",
        "?",
        "#",
        " ",
        "@daily",
        "@every",
        "1h",
        "CRON_TZ=",
        "Europe/Berlin",
        "\x00",
        "\ud800",
        "-1",
        "99999999999",
    ]
)


@settings(max_examples=400, deadline=None)
@given(text=st.one_of(st.text(max_size=60), st.lists(_TOKENS, max_size=20).map("".join)))
def test_any_text_compiles_or_raises_a_spec_error(text: str) -> None:
    started = time.perf_counter()
    try:
        parsed = parse_cron(text)
    except ScheduleSpecError:
        pass
    else:
        assert (parsed.calendar is None) != (parsed.interval is None)
    assert time.perf_counter() - started < 1.0


@settings(max_examples=200, deadline=None)
@given(
    data=st.dictionaries(
        st.sampled_from(
            [
                "calendars",
                "intervals",
                "cron_expressions",
                "skip",
                "start_at",
                "end_at",
                "jitter",
                "time_zone_name",
                "bogus",
            ]
        ),
        st.recursive(
            st.one_of(
                st.none(), st.booleans(), st.integers(-(10**20), 10**20), st.floats(), st.text(max_size=20)
            ),
            lambda inner: (
                st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4)
            ),
            max_leaves=20,
        ),
    )
)
def test_any_json_is_a_spec_or_a_validation_error(data: dict[str, object]) -> None:
    try:
        ScheduleSpec.model_validate(data)
    except ValidationError:
        pass
