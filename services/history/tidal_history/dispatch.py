"""The operation table: which operation handles which history message, and what the shard preloads
for it (operation.py). Every message type of `tidal_schema.messages.HistoryMessage` has exactly
one entry (test_operation_table.py pins it); FireTimer's retention checks and schedule ticks are
operations of their own, keyed by the timer's kind."""

from __future__ import annotations

from collections.abc import Mapping

from tidal_schema.messages import (
    BackfillSchedule,
    ChildWorkflowClosed,
    ChildWorkflowStarted,
    CompleteActivityTask,
    CompleteWorkflowTask,
    CreateSchedule,
    DeleteSchedule,
    ExternalWorkflowResult,
    FailActivityTask,
    FailWorkflowTask,
    FireTimer,
    HistoryMessage,
    PauseSchedule,
    RecordActivityTaskHeartbeat,
    RecordActivityTaskStarted,
    ReportActivityTaskCanceled,
    RequestCancelExternalWorkflowExecution,
    RequestCancelWorkflowExecution,
    ScheduledWorkflowClosed,
    ScheduledWorkflowStarted,
    SignalExternalWorkflowExecution,
    SignalWithStartWorkflowExecution,
    SignalWorkflowExecution,
    StartChildWorkflowExecution,
    StartChildWorkflowFailed,
    StartWorkflowExecution,
    TerminateWorkflowExecution,
    TimerKind,
    TriggerSchedule,
    UpdateSchedule,
    UpdateWithStartWorkflowExecution,
    UpdateWorkflowExecution,
)

from .api import (
    backfill_schedule,
    child_workflow_closed,
    child_workflow_started,
    complete_activity_task,
    complete_workflow_task,
    create_schedule,
    delete_schedule,
    external_workflow_result,
    fail_activity_task,
    fail_workflow_task,
    fire_timer,
    pause_schedule,
    record_activity_heartbeat,
    record_activity_started,
    report_activity_canceled,
    request_cancel_external_workflow,
    request_cancel_workflow,
    retention,
    schedule_tick,
    scheduled_workflow_closed,
    scheduled_workflow_started,
    signal_external_workflow,
    signal_with_start,
    signal_workflow,
    start_child_workflow,
    start_child_workflow_failed,
    start_workflow,
    terminate_workflow,
    trigger_schedule,
    update_schedule,
    update_with_start,
    update_workflow,
)
from .operation import Handler, Load, Operation

__all__ = ["OPERATIONS", "OperationKey", "operation_for"]

# A message type, or (FireTimer, kind) for the timer kinds that are operations of their own.
OperationKey = type | tuple[type, TimerKind]


def _run(handle: Handler, *, answers_missing: bool = False) -> Operation:
    return Operation(handle=handle, load=Load.RUN, answers_missing=answers_missing, limits=True)


def _schedule(handle: Handler) -> Operation:
    return Operation(handle=handle, load=Load.SCHEDULE)


OPERATIONS: Mapping[OperationKey, Operation] = {
    # starts (docs/architecture.md#message-flows)
    StartWorkflowExecution: Operation(handle=start_workflow.handle, load=Load.CURRENT_RUN),
    SignalWithStartWorkflowExecution: Operation(handle=signal_with_start.handle, load=Load.CURRENT_RUN),
    UpdateWithStartWorkflowExecution: Operation(handle=update_with_start.handle, load=Load.CURRENT_RUN),
    StartChildWorkflowExecution: Operation(handle=start_child_workflow.handle, load=Load.CURRENT),
    # workflow and activity tasks
    CompleteWorkflowTask: _run(complete_workflow_task.handle),
    FailWorkflowTask: _run(fail_workflow_task.handle),
    # Activity messages answer a heartbeat or an async completion for a run that is gone.
    CompleteActivityTask: _run(complete_activity_task.handle, answers_missing=True),
    FailActivityTask: _run(fail_activity_task.handle, answers_missing=True),
    RecordActivityTaskHeartbeat: _run(record_activity_heartbeat.handle, answers_missing=True),
    RecordActivityTaskStarted: _run(record_activity_started.handle),
    ReportActivityTaskCanceled: _run(report_activity_canceled.handle, answers_missing=True),
    FireTimer: _run(fire_timer.handle),
    (FireTimer, TimerKind.RETENTION): Operation(handle=retention.handle, load=Load.RUN, retention=True),
    # client requests by workflow id: with no such run they answer "not found" themselves
    SignalWorkflowExecution: _run(signal_workflow.handle, answers_missing=True),
    TerminateWorkflowExecution: _run(terminate_workflow.handle, answers_missing=True),
    RequestCancelWorkflowExecution: _run(request_cancel_workflow.handle, answers_missing=True),
    UpdateWorkflowExecution: _run(update_workflow.handle, answers_missing=True),
    # child and external workflows (docs/child-workflows.md)
    SignalExternalWorkflowExecution: _run(signal_external_workflow.handle, answers_missing=True),
    RequestCancelExternalWorkflowExecution: _run(
        request_cancel_external_workflow.handle, answers_missing=True
    ),
    ChildWorkflowStarted: _run(child_workflow_started.handle),
    StartChildWorkflowFailed: _run(start_child_workflow_failed.handle),
    ChildWorkflowClosed: _run(child_workflow_closed.handle),
    ExternalWorkflowResult: _run(external_workflow_result.handle),
    # schedules (docs/schedules.md)
    CreateSchedule: _schedule(create_schedule.handle),
    UpdateSchedule: _schedule(update_schedule.handle),
    PauseSchedule: _schedule(pause_schedule.handle),
    TriggerSchedule: _schedule(trigger_schedule.handle),
    BackfillSchedule: _schedule(backfill_schedule.handle),
    DeleteSchedule: _schedule(delete_schedule.handle),
    ScheduledWorkflowStarted: _schedule(scheduled_workflow_started.handle),
    ScheduledWorkflowClosed: _schedule(scheduled_workflow_closed.handle),
    (FireTimer, TimerKind.SCHEDULE): _schedule(schedule_tick.handle),
}


def operation_for(msg: HistoryMessage) -> Operation | None:
    """The message's entry; None for a type without one (the shard dead-letters it)."""
    if isinstance(msg, FireTimer):
        op = OPERATIONS.get((FireTimer, msg.kind))
        if op is not None:
            return op
    return OPERATIONS.get(type(msg))
