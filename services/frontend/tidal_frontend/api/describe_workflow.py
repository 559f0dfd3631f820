"""GET /api/v1/namespaces/{ns}/workflows/{workflow_id}: a run's status and what it is waiting on.

The pending summary comes from the run's mutable-state document (`executions.state`, written by
history). The frontend reads it as a tolerant reader (unknown fields ignored, missing ones
defaulted) so history can grow its state without breaking describe. Shown:
- `pending_activities`: activities scheduled and not yet closed: their state, current attempt,
  last failure, next retry time, heartbeat details and time, last worker (Temporal's
  PendingActivityInfo names);
- `pending_timers`: user timers started and not yet fired or canceled;
- `pending_children`: child workflows initiated and not yet closed;
- `pending_workflow_task`: the outstanding workflow task, if any.
Closed runs have none of these.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from enum import StrEnum
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, TypeAdapter, ValidationError
from tidal_schema import Failure, Payload, WorkflowExecutionStatus

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


# Parent chains are short; the bound keeps a corrupt (cyclic) chain from looping forever.
_MAX_ANCESTORS = 64


def _parent(row: ExecutionRow) -> tuple[str, str, str] | None:
    """(namespace, workflow_id, run_id) of the run's parent, from the state document."""
    parent = row.state.get("parent") if isinstance(row.state, dict) else None
    if not isinstance(parent, dict):
        return None
    try:
        return str(parent["namespace"]), str(parent["workflow_id"]), str(parent["run_id"])
    except KeyError:
        return None


async def _root(ctx: Ctx, row: ExecutionRow) -> tuple[str, str]:
    workflow_id, run_id, current = row.workflow_id, row.run_id, row
    for _ in range(_MAX_ANCESTORS):
        parent = _parent(current)
        if parent is None:
            break
        namespace, workflow_id, run_id = parent
        found = await ctx.store.execution(namespace, workflow_id, run_id)
        if found is None:
            break
        current = found
    return workflow_id, run_id


_Pending = tuple[list[PendingActivity], list[PendingTimer], PendingWorkflowTask | None]


def _task_failure(state: dict[str, Any]) -> WorkflowTaskFailure | None:
    failure = state.get("last_wft_failure")
    if not isinstance(failure, dict) or "message" not in failure:
        return None
    return WorkflowTaskFailure(
        cause=state.get("last_wft_failure_cause"), message=failure["message"], type=failure.get("type")
    )


_TIME = TypeAdapter(datetime)
_DURATION = TypeAdapter(timedelta)


def _activity_state(info: dict[str, Any]) -> PendingActivityState:
    attempt = info.get("attempt", 1)
    if info.get("cancel_requested"):
        return PendingActivityState.CANCEL_REQUESTED
    if info.get("started_attempt") == attempt:
        return PendingActivityState.STARTED
    # A retry is handed to matching when its backoff timer fires.
    if attempt > 1 and info.get("dispatched_attempt", attempt) < attempt:
        return PendingActivityState.BACKING_OFF
    return PendingActivityState.SCHEDULED


def _activity(info: dict[str, Any]) -> PendingActivity:
    failure = info.get("last_failure") or {}
    state = _activity_state(info)
    expiration = None
    if info.get("schedule_to_close_timeout") is not None and info.get("scheduled_time") is not None:
        expiration = _TIME.validate_python(info["scheduled_time"]) + _DURATION.validate_python(
            info["schedule_to_close_timeout"]
        )
    return PendingActivity.model_validate(
        {
            **info,
            "state": state,
            "maximum_attempts": (info.get("retry_policy") or {}).get("maximum_attempts", 0),
            "expiration_time": expiration,
            "last_failure_message": failure.get("message"),
            "next_attempt_schedule_time": info.get("current_attempt_scheduled_time")
            if state is PendingActivityState.BACKING_OFF
            else None,
        }
    )


def _children(state: dict[str, Any]) -> list[PendingChild]:
    try:
        children = [
            PendingChild.model_validate(
                {**c, "workflow_type_name": c["workflow_type"], "initiated_id": c["initiated_event_id"]}
            )
            for c in (state.get("children") or {}).values()
        ]
    except (ValidationError, AttributeError, TypeError, KeyError):
        return []
    return sorted(children, key=lambda c: c.initiated_id)


def _pending(state: dict[str, Any]) -> _Pending:
    try:
        activities = [_activity(info) for info in (state.get("activities") or {}).values()]
        timers = [PendingTimer.model_validate(t) for t in (state.get("timers") or {}).values()]
        wft = state.get("workflow_task")
        task = PendingWorkflowTask.model_validate(wft) if wft else None
    except (ValidationError, AttributeError, TypeError, ValueError):
        # A state document this frontend cannot read (version skew): describe the run anyway.
        return [], [], None
    activities.sort(key=lambda a: a.scheduled_event_id)
    timers.sort(key=lambda t: t.started_event_id)
    return activities, timers, task


def describe(row: ExecutionRow) -> DescribeWorkflowResponse:
    activities, timers, task = _pending(row.state) if row.running else ([], [], None)
    return DescribeWorkflowResponse(
        namespace=row.namespace,
        workflow_id=row.workflow_id,
        run_id=row.run_id,
        workflow_type=row.workflow_type,
        task_queue=row.task_queue,
        status=row.status,
        start_time=row.start_time,
        close_time=row.close_time,
        history_length=max(row.next_event_id - 1, 0),
        memo=row.memo,
        search_attributes=row.search_attributes,
        pending_activities=activities,
        pending_timers=timers,
        pending_workflow_task=task,
        pending_children=_children(row.state) if row.running else [],
        last_workflow_task_failure=_task_failure(row.state) if row.running else None,
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
    parent = _parent(row)
    root_workflow_id, root_run_id = await _root(ctx, row)
    return describe(row).model_copy(
        update={
            "parent_workflow_id": parent[1] if parent else None,
            "parent_run_id": parent[2] if parent else None,
            "root_workflow_id": root_workflow_id,
            "root_run_id": root_run_id,
        }
    )
