"""The fused completion, the worker's pure half (docs/performance.md, "The fused completion ...
worker side"): whether an eager attempt's result may carry the next workflow task's completion,
the workflow task the worker then runs itself, and how it learns history's verdict.

History writes, for a plain completion of an eager attempt followed by the sticky task, exactly
the events `fused_task` assumes: the worker's last task's WorkflowTaskStarted and
WorkflowTaskCompleted and one event per command of it (the instance confirms its commands with
them), then s ActivityTaskStarted, s + 1 ActivityTaskCompleted, s + 2 WorkflowTaskScheduled. The
worker cannot see what history wrote besides, so it fuses only when the event count adds up to
the `next_event_id` history put on the attempt, and only after commands whose single event it
knows (`_ONE_EVENT`). History checks the rest and refuses when the run moved on."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from tidal_schema import HistoryEvent, events, limits, sizes
from tidal_schema import commands as cmd
from tidal_schema.messages import ActivityTask, CompleteActivityTask, WorkflowTask

__all__ = ["FusedBase", "fused_task", "fused_verdict", "why_not_fused"]

# Commands after which history writes exactly one event, whose type and key the worker knows;
# anything else (children, signals, updates, closes, cancels) and the worker does not fuse.
_ONE_EVENT: tuple[type, ...] = (
    cmd.ScheduleActivityTask,
    cmd.StartTimer,
    cmd.RecordMarker,
    cmd.UpsertWorkflowSearchAttributesCommand,
    cmd.ModifyWorkflowPropertiesCommand,
)


@dataclass(frozen=True, kw_only=True)
class FusedBase:
    """What the worker knows of the run's instance: the id of the last event it applied, its
    last task's scheduled event id, that task's commands, and what its clock told the code."""

    last_event_id: int
    activated_upto: int
    commands: Sequence[cmd.Command]
    history_size: int
    continue_as_new_suggested: bool
    task_queue: str
    task_timeout: timedelta


def why_not_fused(base: FusedBase, attempt: ActivityTask) -> str | None:
    """None when the attempt's result may carry the next task, else the reason (a metric label)."""
    s = attempt.next_event_id
    if s <= 0:
        return "no_next_event_id"
    if base.continue_as_new_suggested:
        return "continue_as_new_suggested"
    if not all(isinstance(c, _ONE_EVENT) for c in base.commands):
        return "commands"
    first_command = base.last_event_id + 3  # after its WorkflowTaskStarted and Completed
    if first_command + len(base.commands) != s:
        return "history_moved"  # history wrote events the worker does not know of
    index = attempt.scheduled_event_id - first_command
    if not 0 <= index < len(base.commands):
        return "not_the_last_task"
    scheduled = base.commands[index]
    if not isinstance(scheduled, cmd.ScheduleActivityTask) or scheduled.activity_id != attempt.activity_id:
        return "not_the_last_task"
    if s + 2 >= limits.HISTORY_COUNT_SUGGEST_CONTINUE_AS_NEW:
        return "continue_as_new_suggested"  # history's task would suggest it: leave it to history
    return None


def fused_task(
    base: FusedBase,
    attempt: ActivityTask,
    completion: CompleteActivityTask,
    *,
    identity: str,
    now: datetime,
) -> WorkflowTask:
    """The sticky task history would send after a plain `completion` of `attempt` (checked by
    `why_not_fused`), carrying the events the instance has not applied, taken at `now`."""
    s, p = attempt.next_event_id, base.activated_upto
    at = base.last_event_id + 1
    attributes: list[events.EventAttributes] = [
        events.WorkflowTaskStarted(scheduled_event_id=p),
        events.WorkflowTaskCompleted(scheduled_event_id=p, started_event_id=at),
    ]
    for c in base.commands:
        attributes.append(_command_event(c, completed_id=at + 1))
    attributes += [
        events.ActivityTaskStarted(
            scheduled_event_id=attempt.scheduled_event_id, identity=identity, attempt=attempt.attempt
        ),
        events.ActivityTaskCompleted(
            result=completion.result,
            scheduled_event_id=attempt.scheduled_event_id,
            started_event_id=s,
            identity=identity,
        ),
        events.WorkflowTaskScheduled(task_queue=base.task_queue, start_to_close_timeout=base.task_timeout),
    ]
    evs = tuple(HistoryEvent(event_id=at + i, event_time=now, attributes=a) for i, a in enumerate(attributes))
    assert evs[-1].event_id == s + 2, (evs[-1].event_id, s)
    size = base.history_size + sum(sizes.event_size(e) for e in evs)
    return WorkflowTask(
        namespace=attempt.namespace,
        workflow_id=attempt.workflow_id,
        run_id=attempt.run_id,
        workflow_type=attempt.workflow_type,
        task_queue=base.task_queue,
        scheduled_event_id=s + 2,
        attempt=1,
        first_event_id=at,
        history_length=s + 2,
        events=evs,
        history_routing_key=attempt.history_routing_key,
        history_size_bytes=size,
        suggest_continue_as_new=size >= limits.HISTORY_SIZE_SUGGEST_CONTINUE_AS_NEW,
        started_time=now,
    )


def fused_verdict(evs: Sequence[HistoryEvent], s: int, identity: str) -> bool:
    """Whether history accepted the fused completion assumed at `s`, seen in the events of the
    run's next workflow task (or query): only an accepted one wrote the WorkflowTaskCompleted of
    task s + 2, started by this worker (after a refusal, task s + 2 is history's own, which
    another worker may complete when the sticky queue falls back). Events that do not show it (a
    refusal, a task cut by the size budget after it) are no proof: the worker then replays."""
    completed = False
    for e in evs:
        a = e.attributes
        if a.type == "WorkflowTaskStarted" and a.scheduled_event_id == s + 2 and a.identity != identity:
            return False
        if a.type == "WorkflowTaskCompleted" and a.scheduled_event_id == s + 2:
            completed = True
    return completed


def _command_event(c: cmd.Command, *, completed_id: int) -> events.EventAttributes:
    """The event history writes for a command of `_ONE_EVENT` (only its kind and key matter to
    the instance: history's own events are what a replay reads)."""
    if isinstance(c, cmd.ScheduleActivityTask):
        fields = c.model_dump(exclude={"type", "request_eager_execution"})
        return events.ActivityTaskScheduled(**fields, workflow_task_completed_event_id=completed_id)
    if isinstance(c, cmd.StartTimer):
        return events.TimerStarted(
            timer_id=c.timer_id,
            start_to_fire_timeout=c.start_to_fire_timeout,
            summary=c.summary,
            workflow_task_completed_event_id=completed_id,
        )
    if isinstance(c, cmd.RecordMarker):
        return events.MarkerRecorded(
            marker_name=c.marker_name,
            details=c.details,
            failure=c.failure,
            summary=c.summary,
            workflow_task_completed_event_id=completed_id,
        )
    if isinstance(c, cmd.UpsertWorkflowSearchAttributesCommand):
        return events.UpsertWorkflowSearchAttributes(
            search_attributes=c.search_attributes, workflow_task_completed_event_id=completed_id
        )
    if isinstance(c, cmd.ModifyWorkflowPropertiesCommand):
        return events.WorkflowPropertiesModified(
            upserted_memo=c.upserted_memo, workflow_task_completed_event_id=completed_id
        )
    raise AssertionError(f"no single event known for {c.type}")
