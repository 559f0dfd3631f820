"""A schedule as history persists it (the `schedules` table's `document`), shared so that the
frontend reads schedules without parsing history's private JSON (docs/schedules.md).

The parts a client gives (`ScheduleAction`, `SchedulePolicies`, `ScheduleStateInput`) are frozen
value objects; `ScheduleDocument` is history's mutable record of one schedule: what it was asked
to do, where it stands (the last nominal time it processed, the tick armed), what it did (recent
actions, running workflows, buffered starts, counters) and the conflict token an update must name.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from enum import StrEnum
from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field, StringConstraints

from .common import Frozen, Payload, Priority, RetryPolicy, WorkflowExecutionStatus
from .limits import MAX_ID_LENGTH, STORE_SAFE_PATTERN, Duration, JsonValue, Name, TaskQueueName, Text

__all__ = [
    "DEFAULT_CATCHUP_WINDOW",
    "MAX_BACKFILL_ACTIONS",
    "MAX_BUFFERED_STARTS",
    "MAX_ID_BASE_LENGTH",
    "MAX_RECENT_ACTIONS",
    "ScheduleAction",
    "ScheduleActionRecord",
    "ScheduleBufferedStart",
    "ScheduleCounters",
    "ScheduleDocument",
    "ScheduleOverlapPolicy",
    "SchedulePolicies",
    "ScheduleRunningWorkflow",
    "ScheduleStateInput",
    "format_nominal",
    "scheduled_workflow_id",
]

# Bounds that keep one schedule's document (and the batch that writes it) small whatever a client
# asks: buffered starts beyond this are dropped and counted, a backfill may take at most this many
# actions (Temporal bounds both too), and describe shows the newest recent actions.
MAX_BUFFERED_STARTS = 1000
MAX_BACKFILL_ACTIONS = 1000
MAX_RECENT_ACTIONS = 10
MAX_ID_BASE_LENGTH = MAX_ID_LENGTH - len("-2026-01-01T00:00:00Z")
IdBase = Annotated[
    str, StringConstraints(min_length=1, max_length=MAX_ID_BASE_LENGTH, pattern=STORE_SAFE_PATTERN)
]
# Temporal's default catch-up window.
DEFAULT_CATCHUP_WINDOW = timedelta(days=365)


class ScheduleOverlapPolicy(StrEnum):
    """What an action does while an earlier run of the schedule still runs (Temporal's names)."""

    SKIP = "skip"
    BUFFER_ONE = "buffer_one"
    BUFFER_ALL = "buffer_all"
    CANCEL_OTHER = "cancel_other"
    TERMINATE_OTHER = "terminate_other"
    ALLOW_ALL = "allow_all"


class ScheduleAction(Frozen):
    """Start a workflow: the started run's id is `workflow_id` + "-" + the nominal time."""

    workflow_type: Name
    # Leaves room for "-2026-01-01T00:00:00Z" in a workflow id (at most MAX_ID_LENGTH characters).
    workflow_id: IdBase
    task_queue: TaskQueueName
    input: tuple[Payload, ...] = ()
    workflow_execution_timeout: Duration | None = None
    workflow_run_timeout: Duration | None = None
    workflow_task_timeout: Duration = timedelta(seconds=10)
    retry_policy: RetryPolicy | None = None
    memo: dict[Name, Payload] = Field(default_factory=dict)
    search_attributes: dict[Name, JsonValue] = Field(default_factory=dict)
    # Given to every run it starts, as a start request's fields of the same names.
    static_summary: Text | None = Field(default=None, max_length=10_000)
    # As a start takes them (Text: 10,000): longer ones were accepted here and failed every action.
    static_details: Text | None = Field(default=None, max_length=10_000)
    priority: Priority | None = None
    header: dict[Name, Payload] = Field(default_factory=dict)


class SchedulePolicies(Frozen):
    overlap: ScheduleOverlapPolicy = ScheduleOverlapPolicy.SKIP
    # Missed actions (history or timer down, schedule paused-then-not) older than this are
    # counted as missed instead of taken.
    catchup_window: Duration = DEFAULT_CATCHUP_WINDOW
    pause_on_failure: bool = False


class ScheduleStateInput(Frozen):
    paused: bool = False
    note: Text = ""
    limited_actions: bool = False
    remaining_actions: int = Field(default=0, ge=0, le=2**31 - 1)


class _Doc(BaseModel):
    # Unknown fields are ignored, not refused: a frontend (or history) one release behind still
    # reads a document a newer history wrote, during a rolling upgrade.
    model_config = ConfigDict(extra="ignore", validate_assignment=False)


class ScheduleActionRecord(_Doc):
    """One action taken: when it was due (`nominal_time`, `actual_time` with jitter), when it was
    taken, and the run it started (`run_id` empty until the target shard answered)."""

    nominal_time: datetime
    actual_time: datetime
    taken_at: datetime
    workflow_id: str
    run_id: str = ""
    failed_to_start: str = ""


class ScheduleRunningWorkflow(_Doc):
    workflow_id: str
    run_id: str = ""
    nominal_time: datetime


class ScheduleBufferedStart(_Doc):
    nominal_time: datetime
    actual_time: datetime
    overlap: ScheduleOverlapPolicy
    # Trigger and backfill actions (Temporal's "manual"): taken even while paused.
    manual: bool = False
    # The trigger's or backfill's request id: part of the start's request id, so a manual action
    # in the same second as another is a start of its own, not a duplicate of that one.
    request_id: str = ""


class ScheduleCounters(_Doc):
    actions: int = 0
    skipped_overlap: int = 0
    missed_catchup: int = 0
    buffer_dropped: int = 0


class ScheduleDocument(_Doc):
    namespace: str
    schedule_id: str
    # Unique per creation: ticks and run links carry it, so a fire or a close notice for a
    # deleted schedule is never applied to a new one created with the same id.
    incarnation: str
    shard_id: int
    # A retried create (same request id) is answered, not refused as a duplicate id.
    create_request_id: str = ""
    spec: dict[str, JsonValue]
    action: ScheduleAction
    policies: SchedulePolicies = SchedulePolicies()
    paused: bool = False
    note: str = ""
    limited_actions: bool = False
    remaining_actions: int = 0
    memo: dict[str, Payload] = Field(default_factory=dict)
    # The schedule's own search attributes (temporalio's `create_schedule(search_attributes=)`),
    # not those of the runs it starts (`action.search_attributes`); a document written before
    # they existed has none.
    search_attributes: dict[str, JsonValue] = Field(default_factory=dict)
    created_at: datetime
    updated_at: datetime | None = None
    # Bumped by every change a client makes; an update naming another token is refused.
    conflict_token: int = 1
    # Every nominal time up to here has been taken, skipped or counted missed.
    processed_until: datetime
    # The nominal time of the tick armed with the timer service (None: none armed).
    armed_tick: datetime | None = None
    recent_actions: list[ScheduleActionRecord] = Field(default_factory=list)
    running: list[ScheduleRunningWorkflow] = Field(default_factory=list)
    buffered: list[ScheduleBufferedStart] = Field(default_factory=list)
    counters: ScheduleCounters = Field(default_factory=ScheduleCounters)
    # Request ids of triggers and backfills already applied (bounded, newest kept).
    applied_requests: list[str] = Field(default_factory=list)
    last_close_status: WorkflowExecutionStatus | None = None


def scheduled_workflow_id(id_base: str, nominal_time: datetime) -> str:
    """Temporal's name for a scheduled run: the id base, "-", the nominal time in RFC 3339 UTC."""
    return f"{id_base}-{format_nominal(nominal_time)}"


def format_nominal(nominal_time: datetime) -> str:
    return nominal_time.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
