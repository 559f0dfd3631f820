"""The engine against Temporal's own: next action times recorded from a Temporal 1.32 dev server
(scripts/schedule_golden.py wrote temporal_schedule_times.json), for cron forms, names, steps,
years, @every, CRON_TZ, and DST changes in Berlin, New York and Lord Howe."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from tidal_schema.schedules import ScheduleSpec, ScheduleSpecError, next_action_times, parse_cron

_RECORDED = json.loads((Path(__file__).parent / "temporal_schedule_times.json").read_text())

# Where we follow Temporal's documented rule ("an action that fires at 1:30am will be triggered
# twice on the day that has two 1:30s") and its server does not: a daily time in Berlin's
# fall-back hour (the server takes only the second 02:30), and the first half of Lord Howe's
# repeated half hour (its DST logic assumes one-hour shifts). We take both occurrences.
_ALSO_OURS = {
    ("30 2 * * *", "Europe/Berlin", "2027-10-29T00:00:00+00:00"): ["2027-10-31T00:30:00+00:00"],
    ("*/30 * * * *", "Australia/Lord_Howe", "2027-04-03T14:00:00+00:00"): ["2027-04-03T14:30:00+00:00"],
}


@pytest.mark.parametrize("case", _RECORDED["times"], ids=lambda c: f"{c['cron']}|{c['zone']}")
def test_next_times_match_temporal(case: dict[str, Any]) -> None:
    spec = ScheduleSpec(
        cron_expressions=(case["cron"],),
        time_zone_name=case["zone"],
        start_at=datetime.fromisoformat(case["start_at"]),
    )
    key = (case["cron"], case["zone"], case["start_at"])
    expected = sorted(set(case["next"]) | set(_ALSO_OURS.get(key, [])))[: len(case["next"])]
    got = next_action_times(
        spec, after=datetime(2026, 12, 1, tzinfo=UTC), schedule_id="s", limit=len(expected)
    )
    assert [t.nominal.isoformat() for t in got] == expected


@pytest.mark.parametrize("case", _RECORDED["refused"], ids=lambda c: c["cron"])
def test_what_temporal_refuses_we_refuse(case: dict[str, str]) -> None:
    with pytest.raises(ScheduleSpecError):
        parse_cron(case["cron"])
