"""Durable timers: history -> the timer service (schedule, cancel) and the timer service ->
history (FireTimer when one is due). Part of `tidal_schema.messages` (re-exported there)."""

from __future__ import annotations

from enum import StrEnum
from typing import Literal

from pydantic import Field

from ._message_base import _ExecutionRef, _Message
from .limits import (
    OptionalId,
    Timestamp,
)

__all__ = ["CancelTimer", "FireTimer", "ScheduleTimer", "ScheduleTimers", "TimerKind"]


class TimerKind(StrEnum):
    USER_TIMER = "user_timer"
    ACTIVITY_RETRY = "activity_retry"
    ACTIVITY_TIMEOUT = "activity_timeout"
    ACTIVITY_HEARTBEAT = "activity_heartbeat"
    ACTIVITY_SCHEDULE_TO_START = "activity_schedule_to_start"
    WORKFLOW_TASK_TIMEOUT = "workflow_task_timeout"
    WORKFLOW_TASK_RETRY = "workflow_task_retry"
    WORKFLOW_RUN_TIMEOUT = "workflow_run_timeout"
    # A closed run's retention: on fire, history deletes the run (or re-arms for a longer one).
    RETENTION = "retention"
    # A schedule's next action: `workflow_id` names the schedule, `run_id` its incarnation and
    # `timer_id` the nominal time (docs/schedules.md).
    SCHEDULE = "schedule"


class FireTimer(_ExecutionRef):
    """Published by the timer service when a durable timer is due. History discards stale ones."""

    type: Literal["FireTimer"] = "FireTimer"
    kind: TimerKind
    key: str
    # What the timer is about: a user timer id, or an activity / workflow task scheduled event id
    # together with the attempt it was set for (so a fire for an older attempt is stale).
    timer_id: OptionalId | None = None
    scheduled_event_id: int | None = None
    attempt: int | None = None
    # The timer's due time (its row's `fire_at`, on history's clock). The timer service may send
    # the fire a little ahead of it, so that the trip to history is over by then; history holds a
    # fire that arrives before this and applies it at or after it, never before. None: apply at
    # once (older senders, tests).
    fire_at: Timestamp | None = None


# --- to the timer service -----------------------------------------------------------------


class ScheduleTimer(_Message):
    type: Literal["ScheduleTimer"] = "ScheduleTimer"
    shard_id: int
    key: str
    fire_at: Timestamp
    fire: FireTimer


class CancelTimer(_Message):
    type: Literal["CancelTimer"] = "CancelTimer"
    shard_id: int
    key: str


class ScheduleTimers(_Message):
    """Several ScheduleTimers for one timer shard in one bus message: history sends the timers a
    batch commit sets for a shard together (docs/performance.md, "Hops and messages"). Each is
    applied as if it had come alone."""

    type: Literal["ScheduleTimers"] = "ScheduleTimers"
    timers: tuple[ScheduleTimer, ...] = Field(min_length=1)
