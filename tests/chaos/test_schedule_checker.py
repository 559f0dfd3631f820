"""The schedule checker catches what it exists to catch (synthetic run lists, no servers): a
nominal time taken twice, a second with no run, two runs of a SKIP schedule open at once, and it
accepts a clean window."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from tests.chaos.schedules import ScheduleVerdict, judge

_CREATED = datetime(2026, 12, 6, 9, 0, 0, 400_000, tzinfo=UTC)
_SID = "sched-all"


def _run(second: int, *, start: float | None = None, close: float | None = None) -> dict[str, Any]:
    nominal = _CREATED.replace(microsecond=0) + timedelta(seconds=second)
    started = nominal + timedelta(seconds=start if start is not None else 0.1)
    closed = nominal + timedelta(seconds=close if close is not None else 0.2)
    return {
        "workflow_id": f"{_SID}-{nominal.strftime('%Y-%m-%dT%H:%M:%SZ')}",
        "status": "Completed",
        "start_time": started.isoformat(),
        "close_time": closed.isoformat(),
    }


def _judge(policy: str, runs: list[dict[str, Any]]) -> ScheduleVerdict:
    paused_at = (_CREATED + timedelta(seconds=10)).timestamp()
    v = ScheduleVerdict(
        name="x", policy=policy, created=True, paused=True, actions=len(runs), paused_at=paused_at
    )
    judge(v, _SID, runs, created=_CREATED)
    return v


def test_a_clean_allow_all_window_passes() -> None:
    v = _judge("allow_all", [_run(s) for s in range(1, 9)])
    assert v.ok and v.gaps == 0 and v.duplicated == 0, v
    assert 1.5 < v.tail_seconds < 2.5


def test_a_nominal_time_taken_twice_is_a_duplicate() -> None:
    v = _judge("allow_all", [_run(s) for s in (1, 2, 2, 3)])
    assert v.duplicated == 1 and not v.ok, v


def test_a_second_without_a_run_is_a_gap_even_the_first() -> None:
    assert _judge("allow_all", [_run(s) for s in (1, 2, 4, 5)]).gaps == 1
    assert _judge("allow_all", [_run(s) for s in (2, 3)]).gaps == 1


def test_two_runs_of_a_skip_schedule_open_at_once_is_an_overlap() -> None:
    clean = _judge("skip", [_run(1, close=2.6), _run(4, close=2.6), _run(7, close=2.6)])
    assert clean.ok, clean
    v = _judge("skip", [_run(1, close=2.6), _run(2, close=2.6)])
    assert v.overlaps == 1 and not v.ok, v


def test_a_run_not_completed_fails_the_schedule() -> None:
    run = _run(1)
    run["status"] = "Running"
    run["close_time"] = None
    assert _judge("allow_all", [run]).not_completed == 1


def test_a_time_taken_after_the_pause_was_acknowledged_fails() -> None:
    v = _judge("allow_all", [_run(s) for s in range(1, 13)])
    assert v.after_pause == 2 and not v.ok, v
