"""Temporal's cron schedule on a workflow start, computed by the schedule spec engine: how long
until the next cron time. Pure; the transitions that use it are in api/cron_runs.py and
api/start_workflow.py."""

from __future__ import annotations

from datetime import datetime, timedelta

from tidal_schema.schedule_times import ScheduleSpecError, check_spec, next_action_times

__all__ = ["backoff", "invalid"]


def invalid(cron: str) -> str | None:
    """Why the spec engine refuses `cron`, or None."""
    try:
        check_spec({"cron_expressions": [cron]})
    except ScheduleSpecError as exc:
        return str(exc)
    return None


def backoff(cron: str, *, now: datetime, workflow_id: str) -> timedelta | None:
    """Time from `now` to the next cron time strictly after it; None when the expression has no
    further time (or is invalid: the frontend refuses those, so only a message that bypassed it
    gets here, and it then runs once without a schedule instead of failing the shard)."""
    try:
        times = next_action_times({"cron_expressions": [cron]}, after=now, schedule_id=workflow_id, limit=1)
    except ScheduleSpecError:
        return None
    if not times:
        return None
    return max(times[0].actual - now, timedelta(0))
