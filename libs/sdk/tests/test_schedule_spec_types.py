"""The SDK's schedule spec types: temporalio's names, fields and defaults, and the wire form."""

from __future__ import annotations

import dataclasses
from datetime import UTC, datetime, timedelta

import pytest
import tidal.client as tidal_client
from pydantic import ValidationError
from tidal.client import ScheduleCalendarSpec, ScheduleIntervalSpec, ScheduleRange, ScheduleSpec
from tidal_schema import schedules as wire

temporal_client = pytest.importorskip("temporalio.client")


@pytest.mark.parametrize(
    "name", ["ScheduleRange", "ScheduleCalendarSpec", "ScheduleIntervalSpec", "ScheduleSpec"]
)
def test_fields_and_defaults_are_temporalio_s(name: str) -> None:
    ours, theirs = getattr(tidal_client, name), getattr(temporal_client, name)

    def shape(cls: type) -> list[tuple[str, object, object]]:
        return [
            (
                f.name,
                repr(f.default) if f.default is not dataclasses.MISSING else None,
                repr(f.default_factory()) if f.default_factory is not dataclasses.MISSING else None,
            )
            for f in dataclasses.fields(cls)  # type: ignore[arg-type]
        ]

    assert shape(ours) == shape(theirs)
    assert ours.__dataclass_params__.frozen == theirs.__dataclass_params__.frozen  # type: ignore[attr-defined]


def test_a_range_normalises_as_temporalio_s() -> None:
    for args in [(5,), (5, 3), (5, 9), (5, 9, 2), (0, 0, 0)]:
        ours, theirs = ScheduleRange(*args), temporal_client.ScheduleRange(*args)
        assert (ours.start, ours.end, ours.step) == (theirs.start, theirs.end, theirs.step)


def _full_spec() -> ScheduleSpec:
    return ScheduleSpec(
        calendars=[
            ScheduleCalendarSpec(
                second=(ScheduleRange(0, 59, 15),),
                hour=(ScheduleRange(9, 17),),
                day_of_week=(ScheduleRange(1, 5),),
                year=(ScheduleRange(2027),),
                comment="office hours",
            )
        ],
        intervals=[
            ScheduleIntervalSpec(every=timedelta(hours=1), offset=timedelta(minutes=5)),
            ScheduleIntervalSpec(every=timedelta(days=1)),
        ],
        cron_expressions=["0 12 * * MON", "@hourly"],
        skip=[ScheduleCalendarSpec(month=(ScheduleRange(12),), day_of_month=(ScheduleRange(25),))],
        start_at=datetime(2026, 1, 1, tzinfo=UTC),
        end_at=datetime(2030, 1, 1, tzinfo=UTC),
        jitter=timedelta(seconds=30),
        time_zone_name="Europe/Berlin",
    )


def test_to_wire_and_back_round_trips() -> None:
    spec = _full_spec()
    on_wire = spec.to_wire()
    assert isinstance(on_wire, wire.ScheduleSpec)
    assert on_wire.intervals[1].offset == timedelta(0)
    back = ScheduleSpec.from_wire(on_wire)
    assert back == dataclasses.replace(
        spec,
        calendars=[dataclasses.replace(c, **_tuples(c)) for c in spec.calendars],
        skip=[dataclasses.replace(c, **_tuples(c)) for c in spec.skip],
    )
    assert ScheduleSpec.from_wire(wire.ScheduleSpec.model_validate_json(on_wire.model_dump_json())) == back


def _tuples(c: ScheduleCalendarSpec) -> dict[str, object]:
    return {f.name: tuple(getattr(c, f.name)) for f in dataclasses.fields(c) if f.name != "comment"}


def test_a_ported_temporal_spec_computes_times() -> None:
    spec = ScheduleSpec(intervals=[ScheduleIntervalSpec(every=timedelta(minutes=10))])
    times = wire.next_action_times(
        spec.to_wire(), after=datetime(2026, 5, 1, tzinfo=UTC), schedule_id="s", limit=2
    )
    assert [t.nominal.minute for t in times] == [10, 20]


@pytest.mark.parametrize(
    ("spec", "field"),
    [
        (ScheduleSpec(cron_expressions=["0 25 * * *"]), "hour field"),
        (ScheduleSpec(cron_expressions=["@daily"], time_zone_name="Nowhere/City"), "time_zone_name"),
        (ScheduleSpec(intervals=[ScheduleIntervalSpec(every=timedelta(0))]), "every"),
        (
            ScheduleSpec(
                cron_expressions=["@daily"],
                start_at=datetime(2027, 1, 1, tzinfo=UTC),
                end_at=datetime(2026, 1, 1, tzinfo=UTC),
            ),
            "end_at",
        ),
        (ScheduleSpec(calendars=[ScheduleCalendarSpec(hour=(ScheduleRange(-1),))]), "start"),
        (ScheduleSpec(), "at least one"),
    ],
)
def test_bad_specs_fail_at_to_wire_naming_the_field(spec: ScheduleSpec, field: str) -> None:
    with pytest.raises(ValidationError, match=field):
        spec.to_wire()
