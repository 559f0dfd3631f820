"""The run's activities: `workflow.start_activity` records ScheduleActivityTask here (through the
outbound interceptors' root), the ActivityTaskScheduled event gives each its event id, and the
terminal activity events resolve the futures workflow code awaits."""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from tidal_schema import Payload, events
from tidal_schema.commands import RequestCancelActivityTask, ScheduleActivityTask
from tidal_schema.events import HistoryEvent

from .. import exceptions as exc_mod
from .._workflow_activities import ActivityCancellationType, ActivityHandle
from ..common import Priority, RetryPolicy
from ..exceptions import ActivityError, NondeterminismError, failure_to_error
from . import matching
from .activation import ActivationState

__all__ = ["ACTIVITY_JOB_EVENTS", "Activities"]

# Events that resolve an activity (activation jobs).
ACTIVITY_JOB_EVENTS = frozenset(
    {"ActivityTaskCompleted", "ActivityTaskFailed", "ActivityTaskTimedOut", "ActivityTaskCanceled"}
)


@dataclass
class _Activity:
    activity_id: str
    activity_type: str
    command: ScheduleActivityTask
    future: asyncio.Future[Any]
    result_type: Any
    scheduled_event_id: int | None = None
    cancellation_type: ActivityCancellationType = ActivityCancellationType.TRY_CANCEL


class Activities:
    def __init__(self, state: ActivationState) -> None:
        self._state = state
        self._seq = 0
        self._by_id: dict[str, _Activity] = {}
        self._by_event: dict[int, str] = {}  # scheduled event id -> activity id
        # Activities an interceptor asked not to run eagerly (`disable_eager_execution`).
        self.no_eager_ids: set[str] = set()

    def start(
        self,
        *,
        activity_type: str,
        args: list[Any],
        task_queue: str | None,
        result_type: Any,
        schedule_to_close_timeout: timedelta | None,
        schedule_to_start_timeout: timedelta | None,
        start_to_close_timeout: timedelta | None,
        heartbeat_timeout: timedelta | None,
        retry_policy: RetryPolicy | None,
        activity_id: str | None,
        cancellation_type: ActivityCancellationType = ActivityCancellationType.TRY_CANCEL,
        priority: Priority = Priority.default,
        summary: str | None = None,
        headers: Mapping[str, Payload] | None = None,
        disable_eager_execution: bool = False,
    ) -> ActivityHandle[Any]:
        state = self._state
        self._seq += 1
        aid = activity_id or str(self._seq)
        if aid in self._by_id:
            raise ValueError(f"activity id {aid!r} already used in this run")
        cmd = ScheduleActivityTask(
            activity_id=aid,
            activity_type=activity_type,
            task_queue=task_queue or state.run_info.task_queue,
            input=state.converter.to_payloads(args),
            schedule_to_close_timeout=schedule_to_close_timeout,
            schedule_to_start_timeout=schedule_to_start_timeout,
            start_to_close_timeout=start_to_close_timeout,
            heartbeat_timeout=heartbeat_timeout,
            retry_policy=retry_policy.to_schema() if retry_policy else None,
            priority=priority.to_schema(),
            summary=summary,
            header=dict(headers or {}),
        )
        if disable_eager_execution:
            self.no_eager_ids.add(aid)
        act = _Activity(
            aid, activity_type, cmd, state.loop.create_future(), result_type, None, cancellation_type
        )
        self._by_id[aid] = act
        state.add_command(cmd)
        return ActivityHandle(self._await(act), loop=state.loop, name=f"activity:{aid}")

    async def _await(self, act: _Activity) -> Any:
        # Shielded: cancelling the handle must not cancel the future history resolves, which
        # WAIT_CANCELLATION_COMPLETED still waits on.
        try:
            return await asyncio.shield(act.future)
        except asyncio.CancelledError:
            if act.future.done():
                raise
            never_sent = self._state.remove_command(act.command)
            kind = act.cancellation_type
            sent = not never_sent and act.scheduled_event_id is not None
            if sent and kind is not ActivityCancellationType.ABANDON:
                assert act.scheduled_event_id is not None
                self._state.add_command(RequestCancelActivityTask(scheduled_event_id=act.scheduled_event_id))
            if never_sent or kind is not ActivityCancellationType.WAIT_CANCELLATION_COMPLETED:
                # Try-cancel and abandon: the workflow goes on at once; the outcome is ignored.
                act.future.cancel()
                raise
        # Wait for the activity to report it stopped (ActivityTaskCanceled -> ActivityError), or
        # for its result if it finished anyway. A second cancel of the handle stops the wait.
        return await act.future

    def scheduled(self, ev: HistoryEvent, a: events.ActivityTaskScheduled) -> None:
        """The ActivityTaskScheduled of one of our commands: known by its event id from now on."""
        self._by_id[a.activity_id].scheduled_event_id = ev.event_id
        self._by_event[ev.event_id] = a.activity_id

    def apply(self, ev: HistoryEvent) -> None:
        """One of ACTIVITY_JOB_EVENTS: resolve the activity it is about."""
        a = ev.attributes
        if isinstance(a, events.ActivityTaskCompleted):
            act = self._done(ev, a.scheduled_event_id)
            if not act.future.done():
                payloads = a.result[:1]
                conv = self._state.converter
                value = conv.from_payloads(payloads, [act.result_type])[0] if payloads else None
                act.future.set_result(value)
        elif isinstance(
            a, events.ActivityTaskFailed | events.ActivityTaskTimedOut | events.ActivityTaskCanceled
        ):
            act = self._done(ev, a.scheduled_event_id)
            if not act.future.done():
                error = ActivityError(
                    "Activity task failed" if a.type != "ActivityTaskCanceled" else "Activity task cancelled",
                    scheduled_event_id=a.scheduled_event_id,
                    started_event_id=a.started_event_id,
                    activity_type=act.activity_type,
                    activity_id=act.activity_id,
                    retry_state=getattr(a, "retry_state", None),
                )
                if isinstance(a, events.ActivityTaskCanceled):
                    error.__cause__ = exc_mod.CancelledError(
                        "Activity cancelled", *[p.data for p in a.details]
                    )
                else:
                    error.__cause__ = failure_to_error(a.failure)
                act.future.set_exception(error)

    def _done(self, ev: HistoryEvent, scheduled_event_id: int) -> _Activity:
        """The activity a terminal activity event is about (forgotten afterwards: it is final)."""
        aid = self._by_event.pop(scheduled_event_id, None)
        if aid is None:
            raise NondeterminismError(
                f"Nondeterminism: history event {ev.event_id} {ev.event_type} refers to activity scheduled "
                f"at event {scheduled_event_id}, which the workflow code never scheduled; {matching.ADVICE}"
            )
        return self._by_id.pop(aid)
