"""How `tidal schedule describe` and `list` show a schedule as a table."""

from __future__ import annotations

import json
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

from ._schedule_list import ScheduleListDescription
from ._schedule_spec import ScheduleSpec
from ._schedules import ScheduleActionStartWorkflow, ScheduleDescription

__all__ = ["LIST_HEADER", "describe_rows", "list_rows", "when"]

LIST_HEADER = ("Schedule ID", "Workflow type", "Paused", "Next action", "Note")


def list_rows(entries: Sequence[ScheduleListDescription]) -> list[tuple[Any, ...]]:
    rows: list[tuple[Any, ...]] = []
    for e in entries:
        schedule, info = e.schedule, e.info
        rows.append(
            (
                e.id,
                getattr(schedule.action, "workflow", "") if schedule else "",
                "yes" if schedule and schedule.state.paused else "no",
                when(info.next_action_times[0]) if info and info.next_action_times else "",
                (schedule.state.note or "") if schedule else "",
            )
        )
    return rows


def when(value: datetime) -> str:
    return value.astimezone(UTC).isoformat(timespec="seconds").replace("+00:00", "Z")


def _seconds(value: timedelta | None) -> str:
    if value is None:
        return ""
    total = int(value.total_seconds())
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
        if total and total % size == 0:
            return f"{total // size}{unit}"
    return f"{value.total_seconds():g}s"


def _spec_summary(spec: ScheduleSpec) -> list[str]:
    lines = [f"cron {c}" for c in spec.cron_expressions]
    for interval in spec.intervals:
        offset = f" offset {_seconds(interval.offset)}" if interval.offset else ""
        lines.append(f"every {_seconds(interval.every)}{offset}")
    for calendar in spec.calendars:
        lines.append("calendar " + calendar.to_wire().model_dump_json(exclude_defaults=True))
    for calendar in spec.skip:
        lines.append("skip " + calendar.to_wire().model_dump_json(exclude_defaults=True))
    return lines


def describe_rows(d: ScheduleDescription) -> list[tuple[Any, ...]]:
    s, info = d.schedule, d.info
    action = s.action
    assert isinstance(action, ScheduleActionStartWorkflow)
    rows: list[tuple[Any, ...]] = [("Schedule ID", d.id)]
    rows += [("Spec" if i == 0 else "", line) for i, line in enumerate(_spec_summary(s.spec))]
    for label, value in (
        ("Time zone", s.spec.time_zone_name or "UTC"),
        ("Start", when(s.spec.start_at) if s.spec.start_at else None),
        ("End", when(s.spec.end_at) if s.spec.end_at else None),
        ("Jitter", _seconds(s.spec.jitter) if s.spec.jitter else None),
        ("Workflow type", action.workflow),
        ("Workflow ID", f"{action.id}-<nominal time>"),
        ("Task queue", action.task_queue),
        ("Overlap policy", s.policy.overlap.name.lower()),
        ("Catch-up window", _seconds(s.policy.catchup_window) if s.policy.catchup_window else "default"),
        ("Pause on failure", "yes" if s.policy.pause_on_failure else "no"),
        ("Paused", "yes" if s.state.paused else "no"),
        ("Note", s.state.note),
        ("Remaining actions", s.state.remaining_actions if s.state.limited_actions else "unlimited"),
        ("Actions taken", info.num_actions),
        ("Skipped (overlap)", info.num_actions_skipped_overlap),
        ("Missed (catch-up)", info.num_actions_missed_catchup_window),
        ("Created", when(info.created_at)),
        ("Updated", when(info.last_updated_at) if info.last_updated_at else None),
    ):
        if value is not None:
            rows.append((label, value))
    attributes = [f"{k}={json.dumps(v)}" for k, v in sorted(d.search_attributes.items())]
    rows += [("Search attributes" if i == 0 else "", text) for i, text in enumerate(attributes)]
    running = [getattr(r, "workflow_id", "") for r in info.running_actions]
    rows += [("Running" if i == 0 else "", wid) for i, wid in enumerate(running)]
    for i, result in enumerate(info.recent_actions[-5:]):
        wid = getattr(result.action, "workflow_id", "")
        rows.append(("Recent actions" if i == 0 else "", f"{when(result.scheduled_at)}  {wid}"))
    rows += [("Next actions" if i == 0 else "", when(t)) for i, t in enumerate(info.next_action_times[:5])]
    return rows
