"""History messages for schedules (docs/schedules.md). Part of `tidal_schema.messages`
(re-exported there, and members of `HistoryMessage`).

A schedule lives on the history shard of `(namespace, schedule_id)`; these messages go there. The
frontend sends the client operations (create, update, pause, trigger, backfill, delete); the
shard of a started run answers with `ScheduledWorkflowStarted` and, when the run closes,
`ScheduledWorkflowClosed`, both naming the schedule's incarnation so that answers meant for a
deleted schedule are never applied to a new one with the same id.
"""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import Field

from ._message_base import _Message
from .common import Frozen, Payload, WorkflowExecutionStatus
from .limits import Id, JsonValue, Name, NamespaceName, Text, Timestamp
from .schedule_document import (
    ScheduleAction,
    ScheduleOverlapPolicy,
    SchedulePolicies,
    ScheduleStateInput,
)

__all__ = [
    "MAX_BACKFILL_RANGES",
    "BackfillSchedule",
    "CreateSchedule",
    "DeleteSchedule",
    "PauseSchedule",
    "ScheduleBackfillRange",
    "ScheduleLink",
    "ScheduledWorkflowClosed",
    "ScheduledWorkflowStarted",
    "TriggerSchedule",
    "UpdateSchedule",
]

MAX_BACKFILL_RANGES = 100


class ScheduleLink(Frozen):
    """Carried by a run a schedule started: whom to tell when it starts and closes."""

    namespace: NamespaceName = "default"
    schedule_id: Id
    incarnation: Id
    nominal_time: Timestamp


class _ScheduleRef(_Message):
    namespace: NamespaceName = "default"
    schedule_id: Id

    @property
    def workflow_id(self) -> str:
        """The id the schedule is sharded and logged by (the shard of `(namespace, schedule_id)`)."""
        return self.schedule_id


class CreateSchedule(_ScheduleRef):
    type: Literal["CreateSchedule"] = "CreateSchedule"
    request_id: Id
    spec: dict[Name, JsonValue]
    action: ScheduleAction
    policies: SchedulePolicies = SchedulePolicies()
    state: ScheduleStateInput = ScheduleStateInput()
    memo: dict[Name, Payload] = Field(default_factory=dict)
    # The schedule's own search attributes (its runs' are `action.search_attributes`).
    search_attributes: dict[Name, JsonValue] = Field(default_factory=dict)
    identity: Text = ""


class UpdateSchedule(_ScheduleRef):
    """Replace spec, action, policies and state (Temporal's update). `conflict_token`: the token
    the client read; a schedule changed since is refused. `search_attributes`, when given,
    replace the schedule's own (None keeps them, as temporalio's `ScheduleUpdate`)."""

    type: Literal["UpdateSchedule"] = "UpdateSchedule"
    conflict_token: int | None = None
    spec: dict[Name, JsonValue]
    action: ScheduleAction
    policies: SchedulePolicies = SchedulePolicies()
    state: ScheduleStateInput = ScheduleStateInput()
    search_attributes: dict[Name, JsonValue] | None = None
    identity: Text = ""


class PauseSchedule(_ScheduleRef):
    type: Literal["PauseSchedule"] = "PauseSchedule"
    paused: bool
    note: Text = ""
    identity: Text = ""


class TriggerSchedule(_ScheduleRef):
    """Take an action now (even while paused). `request_id` makes a retried trigger one action."""

    type: Literal["TriggerSchedule"] = "TriggerSchedule"
    request_id: Id
    overlap: ScheduleOverlapPolicy | None = None
    identity: Text = ""


class ScheduleBackfillRange(Frozen):
    start_at: Timestamp
    end_at: Timestamp
    overlap: ScheduleOverlapPolicy | None = None


class BackfillSchedule(_ScheduleRef):
    type: Literal["BackfillSchedule"] = "BackfillSchedule"
    request_id: Id
    backfills: tuple[ScheduleBackfillRange, ...] = Field(min_length=1, max_length=MAX_BACKFILL_RANGES)
    identity: Text = ""


class DeleteSchedule(_ScheduleRef):
    """Remove the schedule and its tick; runs it started keep running."""

    type: Literal["DeleteSchedule"] = "DeleteSchedule"
    identity: Text = ""


class ScheduledWorkflowStarted(_ScheduleRef):
    """From a started run's shard: the run a scheduled start made, or why none (`error`)."""

    type: Literal["ScheduledWorkflowStarted"] = "ScheduledWorkflowStarted"
    incarnation: Id
    nominal_time: datetime
    started_workflow_id: Id
    run_id: str = ""
    error: Text = ""
    # False when the start was a duplicate answered with a run that has closed since: the
    # schedule must not wait for its close (that notice went out when it closed).
    running: bool = True


class ScheduledWorkflowClosed(_ScheduleRef):
    type: Literal["ScheduledWorkflowClosed"] = "ScheduledWorkflowClosed"
    incarnation: Id
    nominal_time: datetime
    started_workflow_id: Id
    run_id: Id
    status: WorkflowExecutionStatus
