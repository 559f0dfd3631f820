"""GET /api/v1/namespaces/{ns}/workflows/{workflow_id}: a run's status and what it is waiting on.

The pending summary comes from the run's mutable-state document (`executions.state`, written by
history), read with its shared schema (`tidal_schema.run_document.RunDocument`): unknown fields
are ignored, so a newer history's document still reads, and a document that does not read at all
describes the run without its pending work. Shown:
- `pending_activities`: activities scheduled and not yet closed: their state, current attempt,
  last failure, next retry time, heartbeat details and time, last worker (Temporal's
  PendingActivityInfo names);
- `pending_timers`: user timers started and not yet fired or canceled;
- `pending_children`: child workflows initiated and not yet closed;
- `pending_workflow_task`: the outstanding workflow task, if any.
Closed runs have none of these.
"""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Any

from pydantic import BaseModel, ConfigDict, Field
from tidal_schema import Failure, Payload, WorkflowExecutionStatus
from tidal_schema.run_document import (
    ActivityInfo,
    ChildInfo,
    RunDocument,
    TimerInfo,
    WorkflowTaskInfo,
)

from ..context import Ctx
from ..store import ExecutionRow
from .models import NamespacePath, RunIdQuery, WorkflowIdPath, not_found


class _Lenient(BaseModel):
    model_config = ConfigDict(extra="ignore")


class PendingActivityState(StrEnum):
    """Temporal's PendingActivityState, plus BackingOff (Temporal shows that as Scheduled with a
    `next_attempt_schedule_time`). Started is known once a worker reported the attempt: a
    heartbeat, or its start notice (at once with a schedule-to-start timeout, else after 2 s of
    running); until then a running attempt shows as Scheduled."""

    SCHEDULED = "Scheduled"
    STARTED = "Started"
    BACKING_OFF = "BackingOff"
    CANCEL_REQUESTED = "CancelRequested"


class PendingActivity(_Lenient):
    activity_id: str
    activity_type: str
    scheduled_event_id: int
    state: PendingActivityState = PendingActivityState.SCHEDULED
    attempt: int = 1
    maximum_attempts: int = Field(0, description="0: unlimited")
    scheduled_time: datetime | None = None
    current_attempt_scheduled_time: datetime | None = None
    expiration_time: datetime | None = Field(None, description="scheduled time + schedule-to-close timeout")
    last_failure_message: str | None = None
    last_failure: Failure | None = Field(None, description="why the previous attempt failed")
    last_attempt_complete_time: datetime | None = None
    next_attempt_schedule_time: datetime | None = Field(
        None, description="when the next attempt is dispatched (BackingOff only)"
    )
    last_started_time: datetime | None = None
    last_heartbeat_time: datetime | None = None
    heartbeat_details: list[Payload] = Field(default_factory=list)
    last_worker_identity: str = ""


class PendingChild(_Lenient):
    """A child workflow initiated and not yet closed (Temporal's PendingChildExecutionInfo)."""

    workflow_id: str
    run_id: str | None = Field(None, description="None until the child has started")
    workflow_type_name: str
    initiated_id: int
    parent_close_policy: str = "Terminate"
    namespace: str


class PendingTimer(_Lenient):
    timer_id: str
    started_event_id: int
    fire_at: datetime


class PendingWorkflowTask(_Lenient):
    scheduled_event_id: int
    attempt: int = 1
    scheduled_time: datetime | None = None


class WorkflowTaskFailure(_Lenient):
    cause: str | None = None
    message: str
    type: str | None = None


class DescribeWorkflowResponse(BaseModel):
    namespace: str
    workflow_id: str
    run_id: str
    workflow_type: str
    task_queue: str
    status: WorkflowExecutionStatus
    start_time: datetime
    execution_time: datetime = Field(
        description="when the first workflow task was due: start_time plus the start delay (or a "
        "retry's backoff)"
    )
    close_time: datetime | None
    history_length: int = Field(description="number of events written so far")
    memo: dict[str, Any]
    search_attributes: dict[str, Any]
    pending_activities: list[PendingActivity]
    pending_timers: list[PendingTimer]
    pending_workflow_task: PendingWorkflowTask | None
    pending_children: list[PendingChild] = Field(default_factory=list)
    last_workflow_task_failure: WorkflowTaskFailure | None = Field(
        None, description="why the workflow task keeps failing (it is retried); cleared by a success"
    )
    parent_workflow_id: str | None = Field(None, description="the run that started this one as a child")
    parent_run_id: str | None = None
    root_workflow_id: str | None = Field(
        None,
        description="the top of the chain of parents (the run itself when it has no parent; the "
        "topmost parent still stored when an ancestor was deleted by retention)",
    )
    root_run_id: str | None = None
    static_summary: str | None = Field(None, description="user metadata given at start")
    static_details: str | None = None
    current_details: str | None = Field(
        None, description="what the workflow last set with workflow.set_current_details (user metadata)"
    )


# Parent chains are short; the bound keeps a corrupt (cyclic) chain from looping forever.
_MAX_ANCESTORS = 64


def _parent(doc: RunDocument | None) -> tuple[str, str, str] | None:
    """(namespace, workflow_id, run_id) of the run's parent."""
    p = doc.parent if doc is not None else None
    return (p.namespace, p.workflow_id, p.run_id) if p is not None else None


async def _root(ctx: Ctx, row: ExecutionRow, doc: RunDocument | None) -> tuple[str, str]:
    workflow_id, run_id = row.workflow_id, row.run_id
    for _ in range(_MAX_ANCESTORS):
        parent = _parent(doc)
        if parent is None:
            break
        namespace, workflow_id, run_id = parent
        found = await ctx.store.execution(namespace, workflow_id, run_id)
        if found is None:
            break
        doc = found.document()
    return workflow_id, run_id


def _task_failure(doc: RunDocument) -> WorkflowTaskFailure | None:
    failure = doc.last_wft_failure
    if failure is None:
        return None
    return WorkflowTaskFailure(cause=doc.last_wft_failure_cause, message=failure.message, type=failure.type)


def _activity_state(info: ActivityInfo) -> PendingActivityState:
    if info.cancel_requested:
        return PendingActivityState.CANCEL_REQUESTED
    if info.started_attempt == info.attempt:
        return PendingActivityState.STARTED
    # A retry is handed to matching when its backoff timer fires.
    if info.attempt > 1 and info.dispatched_attempt < info.attempt:
        return PendingActivityState.BACKING_OFF
    return PendingActivityState.SCHEDULED


def _activity(info: ActivityInfo) -> PendingActivity:
    state = _activity_state(info)
    expiration = None
    if info.schedule_to_close_timeout is not None:
        expiration = info.scheduled_time + info.schedule_to_close_timeout
    return PendingActivity(
        activity_id=info.activity_id,
        activity_type=info.activity_type,
        scheduled_event_id=info.scheduled_event_id,
        state=state,
        attempt=info.attempt,
        maximum_attempts=info.retry_policy.maximum_attempts,
        scheduled_time=info.scheduled_time,
        current_attempt_scheduled_time=info.current_attempt_scheduled_time,
        expiration_time=expiration,
        last_failure_message=info.last_failure.message if info.last_failure is not None else None,
        last_failure=info.last_failure,
        last_attempt_complete_time=info.last_attempt_complete_time,
        next_attempt_schedule_time=(
            info.current_attempt_scheduled_time if state is PendingActivityState.BACKING_OFF else None
        ),
        last_started_time=info.last_started_time,
        last_heartbeat_time=info.last_heartbeat_time,
        heartbeat_details=list(info.heartbeat_details),
        last_worker_identity=info.last_worker_identity,
    )


def _child(child: ChildInfo) -> PendingChild:
    return PendingChild(
        workflow_id=child.workflow_id,
        run_id=child.run_id,
        workflow_type_name=child.workflow_type,
        initiated_id=child.initiated_event_id,
        parent_close_policy=child.parent_close_policy,
        namespace=child.namespace,
    )


def _timer(timer: TimerInfo) -> PendingTimer:
    return PendingTimer(
        timer_id=timer.timer_id, started_event_id=timer.started_event_id, fire_at=timer.fire_at
    )


def _task(wft: WorkflowTaskInfo | None) -> PendingWorkflowTask | None:
    if wft is None:
        return None
    return PendingWorkflowTask(
        scheduled_event_id=wft.scheduled_event_id, attempt=wft.attempt, scheduled_time=wft.scheduled_time
    )


def describe(row: ExecutionRow, doc: RunDocument | None = None) -> DescribeWorkflowResponse:
    """`doc`: the row's document when the caller read it already."""
    doc = doc if doc is not None else row.document()
    pending = doc if row.running else None  # closed runs have no pending work
    return DescribeWorkflowResponse(
        namespace=row.namespace,
        workflow_id=row.workflow_id,
        run_id=row.run_id,
        workflow_type=row.workflow_type,
        task_queue=row.task_queue,
        status=row.status,
        start_time=row.start_time,
        execution_time=(doc.execution_time if doc is not None else None) or row.start_time,
        close_time=row.close_time,
        history_length=max(row.next_event_id - 1, 0),
        memo=row.memo,
        search_attributes=row.search_attributes,
        pending_activities=sorted(
            (_activity(a) for a in pending.activities.values()) if pending else [],
            key=lambda a: a.scheduled_event_id,
        ),
        pending_timers=sorted(
            (_timer(t) for t in pending.timers.values()) if pending else [], key=lambda t: t.started_event_id
        ),
        pending_workflow_task=_task(pending.workflow_task) if pending else None,
        pending_children=sorted(
            (_child(c) for c in pending.children.values()) if pending else [], key=lambda c: c.initiated_id
        ),
        last_workflow_task_failure=_task_failure(pending) if pending else None,
        static_summary=doc.static_summary if doc is not None else None,
        static_details=doc.static_details if doc is not None else None,
        current_details=doc.current_details if doc is not None else None,
    )


async def describe_workflow(
    ctx: Ctx,
    namespace: NamespacePath,
    workflow_id: WorkflowIdPath,
    run_id: RunIdQuery = None,
) -> DescribeWorkflowResponse:
    row = await ctx.store.execution(namespace, workflow_id, run_id or None)
    if row is None:
        raise not_found(namespace, workflow_id, run_id)
    doc = row.document()
    parent = _parent(doc)
    root_workflow_id, root_run_id = await _root(ctx, row, doc)
    return describe(row, doc).model_copy(
        update={
            "parent_workflow_id": parent[1] if parent else None,
            "parent_run_id": parent[2] if parent else None,
            "root_workflow_id": root_workflow_id,
            "root_run_id": root_run_id,
        }
    )
