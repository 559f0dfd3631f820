"""A workflow run's mutable state as history persists it (the `executions.state` document), shared
so that the frontend's describe reads what history writes instead of parsing history's private
JSON (docs/architecture.md#the-run-document). No I/O.

History decides transitions from it without reading the event history (its `MutableState` is
`RunDocument`); the frontend shows the pending work in it (activities, timers, children, the
outstanding workflow task). A field renamed here fails the frontend's type check and the
round-trip test (tests/test_run_document.py), instead of silently emptying describe.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, PrivateAttr, model_validator

from .common import Failure, Payload, Priority, RetryPolicy, WorkflowExecutionStatus
from .messages import ScheduleLink

__all__ = [
    "BUCKET_SIZE",
    "BUCKET_SPAN",
    "MAX_BUCKETS",
    "ActivityInfo",
    "ChildInfo",
    "ExternalRequestInfo",
    "ParentInfo",
    "RequestIds",
    "RunDocument",
    "TimerInfo",
    "UpdateInfo",
    "WorkflowTaskInfo",
]

# Request ids (history's dedup.py decides what is kept and for how long): kept in buckets of up to
# BUCKET_SIZE ids collected within a day, oldest first; pruning drops whole buckets.
BUCKET_SIZE = 256
MAX_BUCKETS = 8
BUCKET_SPAN = int(timedelta(days=1).total_seconds())


class _Doc(BaseModel):
    # Unknown fields are ignored, not refused: a frontend (or history) one release behind still
    # reads a document a newer history wrote, during a rolling upgrade (as schedule_document.py).
    model_config = ConfigDict(extra="ignore", validate_assignment=False)


class _Bucket(_Doc):
    first: int  # epoch seconds of its first id...
    newest: int  # ...and of its newest
    run_id: str = ""  # the run its ids were applied to, when not this one (inherited)
    ids: list[str] = Field(default_factory=list)  # "<kind>:<request id>"


class RequestIds(_Doc):
    """Ids of the signals, cancel requests and updates applied to a run, with the run each was
    applied to when not this one."""

    buckets: list[_Bucket] = Field(default_factory=list)
    _index: dict[str, str] | None = PrivateAttr(default=None)  # id -> run id; built on first use

    def _ids(self) -> dict[str, str]:
        index = self._index  # (a pydantic private attribute: slow to reach, so reached once)
        if index is None:
            index = self._index = {k: b.run_id for b in self.buckets for k in b.ids}
        return index

    def find(self, key: str) -> str | None:
        return self._ids().get(key)

    def add(self, key: str, *, at: int, run_id: str) -> None:
        index = self._ids()
        if key in index:
            return
        last = self.buckets[-1] if self.buckets else None
        if (
            last is None
            or last.run_id != run_id
            or len(last.ids) >= BUCKET_SIZE
            or at - last.first > BUCKET_SPAN
        ):
            last = _Bucket(first=at, newest=at, run_id=run_id)
            self.buckets.append(last)
        last.ids.append(key)
        last.newest = max(last.newest, at)
        index[key] = run_id

    def prune(self, *, horizon: int) -> None:
        """Drop the oldest buckets beyond MAX_BUCKETS and those older than `horizon` (the last
        one, just written to, is never older)."""
        drop = 0
        while drop < len(self.buckets) - 1 and (
            len(self.buckets) - drop > MAX_BUCKETS or self.buckets[drop].newest < horizon
        ):
            drop += 1
        if drop:
            gone, self.buckets = self.buckets[:drop], self.buckets[drop:]
            if self._index is not None:
                for b in gone:
                    for k in b.ids:
                        self._index.pop(k, None)

    def inherit(self, other: RequestIds, *, run_id: str) -> None:
        """Take over `other`'s ids (older than ours), those of its own run as `run_id`'s."""
        self.buckets[:0] = [
            b.model_copy(update={"run_id": b.run_id or run_id, "ids": list(b.ids)}) for b in other.buckets
        ]
        self._index = None

    def __len__(self) -> int:
        return sum(len(b.ids) for b in self.buckets)


class ActivityInfo(_Doc):
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
    # Temporal's header from ScheduleActivityTask, handed to every attempt's ActivityTask.
    header: dict[str, Payload] = Field(default_factory=dict)
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


class TimerInfo(_Doc):
    timer_id: str
    started_event_id: int
    fire_at: datetime


class WorkflowTaskInfo(_Doc):
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


class UpdateInfo(_Doc):
    """An update history knows of: `admitted` (waiting for a worker), `accepted` (its handler
    runs), `completed` (result or failure; `rejected` ones never reached history)."""

    update_id: str
    name: str
    input: tuple[Payload, ...] = ()
    header: dict[str, Payload] = Field(default_factory=dict)
    stage: str = "admitted"
    # Scheduled event id of the last workflow task that carried it to a worker.
    delivered_in: int | None = None
    accepted_event_id: int | None = None
    rejected: bool = False
    result: tuple[Payload, ...] | None = None
    failure: Failure | None = None


class ParentInfo(_Doc):
    """The run that started this one as a child (kept across continue-as-new)."""

    namespace: str
    workflow_id: str
    run_id: str
    initiated_event_id: int


class ChildInfo(_Doc):
    initiated_event_id: int
    namespace: str
    workflow_id: str
    workflow_type: str
    parent_close_policy: str = "Terminate"
    run_id: str | None = None  # set when ChildWorkflowExecutionStarted is recorded
    started_event_id: int = 0


class ExternalRequestInfo(_Doc):
    """An external signal or cancel request waiting for the target shard's answer."""

    initiated_event_id: int
    kind: str  # "signal" | "cancel"
    namespace: str
    workflow_id: str
    run_id: str | None = None


class RunDocument(_Doc):
    """One run's mutable state (history's `MutableState`): the `executions.state` document."""

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
    # Temporal's cron schedule of the start: every close starts the next run.
    cron_schedule: str | None = None
    # `workflow.set_current_details` as of the last completed workflow task (user metadata).
    current_details: str | None = None
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
