"""The builder every transition uses: appends events, records side effects, and finishes into an
`Outcome` that the shard processor commits in one transaction. No I/O here.

The outcome types live in outcome.py, timer keys in timer_keys.py and the messages a run sends in
task_messages.py; their names are imported here too, as the transitions have always found them."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta

from pydantic import BaseModel, TypeAdapter
from tidal_schema import Failure, HistoryEvent, Payload, WorkflowExecutionStatus, names
from tidal_schema import events as ev
from tidal_schema.messages import (
    AddActivityTask,
    AddWorkflowTask,
    FireTimer,
    Reply,
    ScheduleTimer,
    TimerKind,
    WorkflowTask,
)
from tidal_server import timer_horizon

from . import relations, task_messages
from .outcome import Outcome, Outgoing, to_workflow, unchanged
from .state import ActivityInfo, MutableState, WorkflowTaskInfo
from .timer_keys import activity_timer_keys, timer_key, wft_retry_key, wft_timeout_key

__all__ = [
    "MAX_WORKER_CLOCK_AHEAD",
    "RETENTION_FIRST_CHECK",
    "Mutation",
    "Outcome",
    "Outgoing",
    "activity_timer_keys",
    "timer_key",
    "to_workflow",
    "unchanged",
    "wft_retry_key",
    "wft_timeout_key",
]

_ATTRS: TypeAdapter[ev.EventAttributes] = TypeAdapter(ev.EventAttributes)
_WFT_RETRY_CAP = timedelta(minutes=10)
# A closed run's first retention check (the shortest retention a namespace can have); the check
# re-arms itself for the namespace's retention then in force (api/retention.py).
RETENTION_FIRST_CHECK = timedelta(days=1)


class Mutation:
    def __init__(
        self,
        state: MutableState,
        history: Sequence[HistoryEvent],
        *,
        now: datetime,
        is_new_run: bool = False,
    ) -> None:
        self.state = state
        self.now = now
        self._history = history
        self._new: list[HistoryEvent] = []
        self._outbox: list[Outgoing] = []
        self._timers_set: list[ScheduleTimer] = []
        self._timers_deleted: list[str] = []
        self._dispatch_wft = False
        self._redispatch_wft = False
        self._is_new_run = is_new_run
        self.reply: Reply | None = None
        self.successor: Outcome | None = None

    @property
    def history(self) -> Sequence[HistoryEvent]:
        """The run's events before this mutation."""
        return self._history

    # --- events ---------------------------------------------------------------------------

    @property
    def new_events(self) -> tuple[HistoryEvent, ...]:
        return tuple(self._new)

    def add_event(self, attributes: ev.EventAttributes) -> int:
        event_id = self.state.next_event_id
        self._new.append(HistoryEvent(event_id=event_id, event_time=self.now, attributes=attributes))
        self.state.next_event_id = event_id + 1
        return event_id

    def record_external(self, attributes: ev.EventAttributes) -> None:
        """An event from outside the workflow task loop (activity result, timer, signal)."""
        wft = self.state.workflow_task
        if wft is not None and wft.unstarted:
            # Before the task's WorkflowTaskStarted: the worker that takes it gets it with it.
            wft.written_before_start = self.add_event(attributes)
            return
        if wft is not None:
            self.state.buffered_events.append(attributes.model_dump(mode="json"))
            return
        self.add_event(attributes)
        self.schedule_workflow_task()

    def record_activity_outcome(self, info: ActivityInfo, outcome: ev.EventAttributes) -> None:
        """ActivityTaskStarted is written together with the outcome (as Temporal does for
        retried activities), so a started event always immediately precedes its outcome."""
        started = ev.ActivityTaskStarted(
            scheduled_event_id=info.scheduled_event_id,
            identity=info.started_identity,
            attempt=info.attempt,
            last_failure=info.last_failure,
        )
        wft = self.state.workflow_task
        if wft is not None and not wft.unstarted:
            self.state.buffered_events.append(started.model_dump(mode="json"))
            self.state.buffered_events.append(outcome.model_dump(mode="json"))
            return
        started_id = self.add_event(started)
        last = self.add_event(outcome.model_copy(update={"started_event_id": started_id}))
        if wft is not None:
            wft.written_before_start = last  # see record_external
            return
        self.schedule_workflow_task()

    def flush_buffered(self) -> bool:
        buffered, self.state.buffered_events = self.state.buffered_events, []
        child_started_ids: dict[int, int] = {}
        for raw in buffered:
            attrs = _ATTRS.validate_python(raw)
            if getattr(attrs, "started_event_id", None) == 0 and attrs.type.startswith("ActivityTask"):
                attrs = attrs.model_copy(update={"started_event_id": self.state.next_event_id - 1})
            attrs = relations.fix_buffered_child_event(self, attrs, child_started_ids)
            self.add_event(attrs)
        return bool(buffered)

    # --- workflow tasks -------------------------------------------------------------------

    def schedule_workflow_task(self, *, attempt: int = 1) -> None:
        if self.state.workflow_task is not None or not self.state.is_running:
            return
        if self.state.wft_retry_attempt is not None:
            self.delete_timer(wft_retry_key(self.state))
            self.state.wft_retry_attempt = self.state.wft_retry_event_id = None
        scheduled_id = self.add_event(
            ev.WorkflowTaskScheduled(
                task_queue=self.state.task_queue,
                start_to_close_timeout=self.state.workflow_task_timeout,
                attempt=attempt,
            )
        )
        self.state.workflow_task = WorkflowTaskInfo(
            scheduled_event_id=scheduled_id, attempt=attempt, scheduled_time=self.now
        )
        self._dispatch_wft = True
        self.set_timer(
            TimerKind.WORKFLOW_TASK_TIMEOUT,
            fire_at=self.now + self.state.workflow_task_timeout,
            scheduled_event_id=scheduled_id,
            attempt=attempt,
        )

    def redispatch_workflow_task(self) -> None:
        """Send the outstanding task again, with the events written since it was scheduled, to
        the worker that holds it (api/complete_workflow_task.py): it now counts as started."""
        wft = self.state.workflow_task
        assert wft is not None
        wft.unstarted = False
        self._dispatch_wft = self._redispatch_wft = True

    def hand_out_workflow_task(self) -> WorkflowTask | None:
        """The task this mutation scheduled, handed to the caller (an eager start's reply) instead
        of matching: it counts as started from now on, as a sticky task does. None when no task
        was scheduled in this mutation."""
        wft = self.state.workflow_task
        if not self._dispatch_wft or wft is None or wft.speculative:
            return None
        self._dispatch_wft = False
        wft.unstarted = False
        return self._workflow_task().task

    def end_workflow_task(
        self,
        *,
        identity: str = "",
        history_size_bytes: int = 0,
        suggest_continue_as_new: bool = False,
        started_time: datetime | None = None,
    ) -> tuple[WorkflowTaskInfo, int]:
        """The outstanding task got its outcome (completed, failed, timed out): its timeout timer
        goes, and WorkflowTaskStarted is written now, with the outcome (see docs/architecture.md)
        and what the task told the workflow about its history (for replays)."""
        wft = self.state.workflow_task
        assert wft is not None
        self.delete_timer(wft_timeout_key(self.state.run_id, wft))
        started_id = self.add_event(
            ev.WorkflowTaskStarted(
                scheduled_event_id=wft.scheduled_event_id,
                identity=identity,
                history_size_bytes=history_size_bytes,
                suggest_continue_as_new=suggest_continue_as_new,
                started_time=_worker_started_time(started_time, wft.scheduled_time, self.now),
            )
        )
        self.state.workflow_task = None
        return wft, started_id

    def retry_workflow_task_later(self, attempt: int) -> None:
        """Failed workflow tasks retry at once the first time, then back off (a bug in workflow
        code must not spin a worker)."""
        if attempt <= 2:
            self.schedule_workflow_task(attempt=attempt)
            return
        self.schedule_workflow_task_after(
            min(timedelta(seconds=2 ** (attempt - 3)), _WFT_RETRY_CAP), attempt=attempt
        )

    def schedule_workflow_task_after(self, delay: timedelta, *, attempt: int) -> None:
        # Keyed by the event id reached as well: each failure writes an event, so each streak of
        # failures has its own keys and a late fire from an earlier one is stale.
        event_id = self.state.next_event_id
        self.set_timer(
            TimerKind.WORKFLOW_TASK_RETRY,
            fire_at=self.now + delay,
            scheduled_event_id=event_id,
            attempt=attempt,
        )
        self.state.wft_retry_attempt, self.state.wft_retry_event_id = attempt, event_id

    def _workflow_task(self) -> AddWorkflowTask:
        return task_messages.workflow_task(self.state, (*self._history, *self._new))

    # --- activities -----------------------------------------------------------------------

    def dispatch_activity(
        self, info: ActivityInfo, *, worker_queue: str | None = None, identity: str = ""
    ) -> None:
        """`worker_queue`: an eager dispatch to the worker `identity` (api/eager_activities.py),
        recorded on the attempt now; otherwise through matching."""
        task = task_messages.activity_task(self.state, info, now=self.now)
        self.send(
            names.MATCHING_EXCHANGE,
            names.MATCHING_ROUTING_KEY,
            AddActivityTask(task=task, worker_queue=worker_queue),
        )
        info.dispatched_attempt = info.attempt
        info.started_identity = identity
        if info.start_to_close_timeout is not None:
            self.set_timer(
                TimerKind.ACTIVITY_TIMEOUT,
                fire_at=self.now + info.start_to_close_timeout,
                scheduled_event_id=info.scheduled_event_id,
                attempt=info.attempt,
            )
        if info.schedule_to_start_timeout is not None:
            self.set_timer(
                TimerKind.ACTIVITY_SCHEDULE_TO_START,
                fire_at=self.now + info.schedule_to_start_timeout,
                scheduled_event_id=info.scheduled_event_id,
                attempt=info.attempt,
            )
        if info.heartbeat_timeout is not None:
            info.last_heartbeat_time = None
            self.arm_heartbeat_timer(info, self.now + info.heartbeat_timeout)

    def arm_heartbeat_timer(self, info: ActivityInfo, fire_at: datetime) -> None:
        """One heartbeat timer per attempt at a time: heartbeats only note their time, and a fire
        that finds a newer heartbeat re-arms for that heartbeat's deadline (docs/activities.md)."""
        info.heartbeat_timer_seq += 1
        self.set_timer(
            TimerKind.ACTIVITY_HEARTBEAT,
            fire_at=fire_at,
            timer_id=str(info.heartbeat_timer_seq),
            scheduled_event_id=info.scheduled_event_id,
            attempt=info.attempt,
        )

    # --- timers ---------------------------------------------------------------------------

    def set_timer(
        self,
        kind: TimerKind,
        *,
        fire_at: datetime,
        timer_id: str | None = None,
        scheduled_event_id: int | None = None,
        attempt: int | None = None,
    ) -> str:
        st = self.state
        key = timer_key(
            st.run_id, kind, timer_id=timer_id, scheduled_event_id=scheduled_event_id, attempt=attempt
        )
        fire = FireTimer(
            namespace=st.namespace,
            workflow_id=st.workflow_id,
            run_id=st.run_id,
            kind=kind,
            key=key,
            timer_id=timer_id,
            scheduled_event_id=scheduled_event_id,
            attempt=attempt,
        )
        scheduled = ScheduleTimer(shard_id=st.shard_id, key=key, fire_at=fire_at, fire=fire)
        self._timers_set.append(scheduled)
        # The row is the truth; a timer due beyond the horizon is read from the table by the
        # timer service before it is due, so a message would only be one more to send and drop.
        if timer_horizon.needs_message(fire_at, self.now):
            self.send(names.TIMER_EXCHANGE, names.shard_routing_key(st.shard_id), scheduled)
        return key

    def delete_timer(self, key: str) -> None:
        # The timer service may still fire it; history treats such fires as stale. A row set
        # earlier in this mutation is not written at all (RunWrite.record_timers relies on it).
        kept = [s for s in self._timers_set if s.key != key]
        if len(kept) != len(self._timers_set):
            # Nor sent (a fused completion ends the task it schedules: api/fused_completion.py).
            self._outbox = [
                o for o in self._outbox if not (isinstance(o.message, ScheduleTimer) and o.message.key == key)
            ]
        self._timers_set = kept
        self._timers_deleted.append(key)

    # --- closing --------------------------------------------------------------------------

    def close(
        self,
        status: WorkflowExecutionStatus,
        attributes: ev.EventAttributes,
        *,
        result: tuple[Payload, ...] | None = None,
        failure: Failure | None = None,
        continued: bool = False,
    ) -> None:
        """Close the run. `continued`: a successor run carries the workflow on (a retry), so a
        parent is not told its child closed."""
        st = self.state
        self._delete_pending_timer_rows()
        # Acknowledged inputs still waiting behind an outstanding task go into history before the
        # close. A workflow task's own close never gets here with any (it is refused instead:
        # api/complete_workflow_task.py); terminate and the run timeout run no workflow code, so
        # the code never sees them, but they are recorded, never dropped.
        self.flush_buffered()
        self.add_event(attributes)
        st.status = status
        st.close_time = self.now
        st.result = result
        st.failure = failure
        st.workflow_task = None
        st.activities.clear()
        st.timers.clear()
        relations.on_close(self, status, result=result, failure=failure, continued=continued)
        self.set_timer(TimerKind.RETENTION, fire_at=self.now + RETENTION_FIRST_CHECK)
        self.send(names.NOTIFY_EXCHANGE, "", task_messages.closed_notification(st, attributes))

    def _delete_pending_timer_rows(self) -> None:
        """A closed run's pending timers would only fire stale; their rows go with the close, so
        stale fires never need a write."""
        st = self.state
        run = st.run_id
        keys = [timer_key(run, TimerKind.WORKFLOW_RUN_TIMEOUT)]
        if st.workflow_task is not None:
            keys.append(wft_timeout_key(run, st.workflow_task))
        if st.wft_retry_attempt is not None:
            keys.append(wft_retry_key(st))
        for info in st.activities.values():
            keys += activity_timer_keys(run, info)
        for timer in st.timers.values():
            keys.append(
                timer_key(
                    run,
                    TimerKind.USER_TIMER,
                    timer_id=timer.timer_id,
                    scheduled_event_id=timer.started_event_id,
                )
            )
        for key in keys:
            self.delete_timer(key)

    # --- plumbing -------------------------------------------------------------------------

    def send(self, exchange: str, routing_key: str, message: BaseModel) -> None:
        self._outbox.append(Outgoing(exchange=exchange, routing_key=routing_key, message=message))

    def send_to_workflow(self, namespace: str, workflow_id: str, message: BaseModel) -> None:
        """A message for the history shard that owns another workflow (routed by the processor)."""
        self._outbox.append(to_workflow(namespace, workflow_id, message))

    def finish(self) -> Outcome:
        wft = self.state.workflow_task
        if self._dispatch_wft and wft is not None:
            # Through the shared queue no worker holds it yet (a sticky one counts as started).
            wft.unstarted = not (self._redispatch_wft or wft.speculative or self.state.sticky_queue)
            self.send(names.MATCHING_EXCHANGE, names.MATCHING_ROUTING_KEY, self._workflow_task())
        return Outcome(
            state=self.state,
            events=self._new,
            outbox=self._outbox,
            timers_set=self._timers_set,
            timers_deleted=self._timers_deleted,
            reply=self.reply,
            changed=True,
            is_new_run=self._is_new_run,
            successor=self.successor,
        )


# How far ahead of history's clock a worker's clock may be for the time it took a task to be kept
# as it is; a worker further ahead gets history's time recorded instead (its replays then see
# that time, not the one its first run saw).
MAX_WORKER_CLOCK_AHEAD = timedelta(hours=1)


def _worker_started_time(started: datetime | None, scheduled: datetime, now: datetime) -> datetime | None:
    """What WorkflowTaskStarted records as the task's start (`workflow.now()` on replay): the
    worker's time exactly as it used it, kept within [scheduled, now + MAX_WORKER_CLOCK_AHEAD]."""
    if started is None:
        return None
    return min(max(started, scheduled), now + MAX_WORKER_CLOCK_AHEAD)
