"""Mutable state of one workflow run: what history keeps (cached, and as JSON in `executions`)
to decide transitions without reading the event history."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, model_validator
from tidal_schema import Failure, Payload, Priority, RetryPolicy, WorkflowExecutionStatus
from tidal_schema.messages import ScheduleLink

from .dedup import RequestIds


class _State(BaseModel):
    model_config = ConfigDict(extra="forbid", validate_assignment=False)


class ActivityInfo(_State):
    scheduled_event_id: int
    activity_id: str
    activity_type: str
    task_queue: str
    input: tuple[Payload, ...] = ()
    scheduled_time: datetime
    attempt: int = 1
    current_attempt_scheduled_time: datetime
    schedule_to_close_timeout: timedelta | None = None
    start_to_close_timeout: timedelta | None = None
    heartbeat_timeout: timedelta | None = None
    retry_policy: RetryPolicy
    last_failure: Failure | None = None
    heartbeat_details: tuple[Payload, ...] = ()
    priority: Priority | None = None
    # --- activity model (docs/activities.md); no events, so none of this is in history.
    schedule_to_start_timeout: timedelta | None = None
    # The attempt a worker reported started (heartbeat or start notice): disarms schedule-to-start.
    started_attempt: int = 0
    last_heartbeat_time: datetime | None = None
    # For describe only (Temporal's PendingActivityInfo): when history learnt the current attempt
    # had started, when the last attempt failed, and the worker that last reported on it.
    last_started_time: datetime | None = None
    last_attempt_complete_time: datetime | None = None
    last_worker_identity: str = ""
    # Bumped each time the heartbeat timer is (re-)armed, so only the newest fire counts.
    heartbeat_timer_seq: int = 0
    cancel_requested: bool = False
    # The attempt last handed to matching: a retry fire for it again (fires are at least once) is
    # a duplicate, not a reason to run the attempt twice.
    dispatched_attempt: int = 0
    # The worker an eager dispatch handed the attempt to (api/eager_activities.py), written into
    # ActivityTaskStarted; "" for an attempt that went through matching.
    started_identity: str = ""


class TimerInfo(_State):
    timer_id: str
    started_event_id: int
    fire_at: datetime


class WorkflowTaskInfo(_State):
    scheduled_event_id: int
    attempt: int = 1
    scheduled_time: datetime
    # Dispatched only to deliver updates; its WorkflowTaskScheduled is not written (see updates.py).
    speculative: bool = False
    # Tells apart the timeout timers of speculative tasks, which can share a scheduled event id (a
    # dropped one writes no event); None for the others, whose event id is theirs alone.
    timer_id: str | None = None
    # Dispatched to the task queue's shared queue and no worker known to hold it yet: inputs that
    # arrive meanwhile are written at once, before the task's WorkflowTaskStarted, and the worker
    # that takes the task gets them with it, as in Temporal (docs/architecture.md). A task handed
    # to a worker's own queue (sticky) counts as started at dispatch.
    unstarted: bool = False
    # The last event written while `unstarted` (0: none): a completion must have seen it.
    written_before_start: int = 0


class UpdateInfo(_State):
    """An update history knows of: `admitted` (waiting for a worker), `accepted` (its handler
    runs), `completed` (result or failure; `rejected` ones never reached history)."""

    update_id: str
    name: str
    input: tuple[Payload, ...] = ()
    stage: str = "admitted"
    # Scheduled event id of the last workflow task that carried it to a worker.
    delivered_in: int | None = None
    accepted_event_id: int | None = None
    rejected: bool = False
    result: tuple[Payload, ...] | None = None
    failure: Failure | None = None


class ParentInfo(_State):
    """The run that started this one as a child (kept across continue-as-new)."""

    namespace: str
    workflow_id: str
    run_id: str
    initiated_event_id: int


class ChildInfo(_State):
    initiated_event_id: int
    namespace: str
    workflow_id: str
    workflow_type: str
    parent_close_policy: str = "Terminate"
    run_id: str | None = None  # set when ChildWorkflowExecutionStarted is recorded
    started_event_id: int = 0


class ExternalRequestInfo(_State):
    """An external signal or cancel request waiting for the target shard's answer."""

    initiated_event_id: int
    kind: str  # "signal" | "cancel"
    namespace: str
    workflow_id: str
    run_id: str | None = None


class MutableState(_State):
    namespace: str
    workflow_id: str
    run_id: str
    workflow_type: str
    task_queue: str
    shard_id: int
    status: WorkflowExecutionStatus = WorkflowExecutionStatus.RUNNING
    start_time: datetime
    # When the first workflow task is due (start + start_delay or retry backoff); None: start_time.
    execution_time: datetime | None = None
    static_summary: str | None = None
    static_details: str | None = None
    # The run's task priority (Temporal's); its activities inherit the fields they do not set.
    priority: Priority | None = None
    close_time: datetime | None = None
    start_request_id: str
    next_event_id: int = 1
    # Bytes of the run's serialized events, for the history size limit (limits.py).
    history_size_bytes: int = 0
    workflow_task_timeout: timedelta = timedelta(seconds=10)
    workflow_task: WorkflowTaskInfo | None = None
    # Attempt of a workflow task waiting on a retry-backoff timer (its row must go when a task is
    # scheduled by other means, or the fire would be stale with its row left behind).
    wft_retry_attempt: int | None = None
    # ...and the event id history had reached when that timer was set (the WorkflowTaskFailed's
    # successor): a fire left over from an earlier streak of failures has another.
    wft_retry_event_id: int | None = None
    # Speculative tasks dispatched so far (each one's timeout timer id).
    speculative_tasks: int = 0
    # Why the last workflow task attempt failed, until one succeeds: `describe` shows it, since a
    # failing task is retried forever without failing the workflow.
    last_wft_failure: Failure | None = None
    last_wft_failure_cause: str | None = None
    sticky_queue: str | None = None
    activities: dict[int, ActivityInfo] = Field(default_factory=dict)
    timers: dict[str, TimerInfo] = Field(default_factory=dict)
    # Events that arrived while a workflow task was outstanding: written after its completion so
    # the worker's view of history (which ends at the task's WorkflowTaskScheduled) stays valid.
    buffered_events: list[dict[str, object]] = Field(default_factory=list)
    # Ids of the signals, cancel requests and updates applied (dedup.py): a redelivered one is
    # answered, not applied twice.
    request_ids: RequestIds = Field(default_factory=RequestIds)
    cancel_requested: bool = False
    # By update id, in admission order (the last finished ones are kept for deduplication).
    updates: dict[str, UpdateInfo] = Field(default_factory=dict)
    result: tuple[Payload, ...] | None = None
    failure: Failure | None = None
    # Child and external workflows (docs/child-workflows.md), keyed by initiated event id.
    parent: ParentInfo | None = None
    # The schedule that started this run (docs/schedules.md): told when the run's chain closes.
    scheduled_by: ScheduleLink | None = None
    children: dict[int, ChildInfo] = Field(default_factory=dict)
    external_requests: dict[int, ExternalRequestInfo] = Field(default_factory=dict)

    @model_validator(mode="before")
    @classmethod
    def _legacy_signal_ids(cls, data: Any) -> Any:
        """Documents written before `request_ids` kept the last signal ids in a list; they are
        taken over as applied at the run's start (so they age out from there)."""
        if isinstance(data, dict) and "signal_request_ids" in data:
            data = dict(data)
            legacy = data.pop("signal_request_ids") or []
            start = data.get("start_time")
            at = (start if isinstance(start, datetime) else datetime.fromisoformat(str(start))).timestamp()
            if legacy and "request_ids" not in data:
                data["request_ids"] = {
                    "buckets": [{"first": int(at), "newest": int(at), "ids": [f"s:{i}" for i in legacy]}]
                }
        return data

    @property
    def is_running(self) -> bool:
        return self.status is WorkflowExecutionStatus.RUNNING
