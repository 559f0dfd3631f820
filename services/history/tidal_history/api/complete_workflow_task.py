"""CompleteWorkflowTask: record the task, apply its commands in order, flush buffered events.

A completion that would close the run (complete, fail, cancel, continue-as-new) while inputs
arrived during the task (buffered events, or updates admitted meanwhile) is refused as a whole,
as Temporal does (UNHANDLED_COMMAND): WorkflowTaskFailed with cause UnhandledCommand, the buffered
events written, and a new task scheduled at once so the workflow code sees them and then closes
again. Closing would drop acknowledged inputs the code never saw (docs/reliability-notes/
buffered-events.md)."""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from datetime import datetime

from tidal_schema import Failure, HistoryEvent, WorkflowExecutionStatus
from tidal_schema import commands as cmd
from tidal_schema import events as ev
from tidal_schema.messages import AddActivityTask, CompleteWorkflowTask, TimerKind
from tidal_server.visibility import invalid_search_attributes

from .. import memo, updates
from ..mutation import Mutation, Outcome, timer_key, unchanged
from ..operation import OperationContext
from ..retry import resolve_policy
from ..state import ActivityInfo, MutableState, TimerInfo
from . import child_commands, cron_runs, request_cancel_activity, workflow_retry
from .eager_activities import EagerSlots

UNHANDLED_COMMAND = "UnhandledCommand"

SUPPORTED = (
    cmd.ScheduleActivityTask,
    cmd.RequestCancelActivityTask,
    cmd.StartTimer,
    cmd.CancelTimer,
    cmd.CompleteWorkflowExecution,
    cmd.FailWorkflowExecution,
    cmd.CancelWorkflowExecution,
    cmd.RecordMarker,
    cmd.UpsertWorkflowSearchAttributesCommand,
    cmd.ModifyWorkflowPropertiesCommand,
    cmd.ProtocolMessage,
    *child_commands.COMMANDS,
)


def handle(ctx: OperationContext, msg: CompleteWorkflowTask) -> Outcome:
    state, history, now = ctx.run, ctx.history, ctx.now
    wft = state.workflow_task
    if not state.is_running or wft is None or wft.scheduled_event_id != msg.scheduled_event_id:
        return unchanged()  # a duplicate or a completion for a task that timed out
    if wft.written_before_start > (msg.seen_event_id or wft.scheduled_event_id):
        return _not_seen(state, history, msg, now=now)
    wft.unstarted = False
    m = Mutation(state, history, now=now)
    if wft.speculative and updates.only_rejections(msg.commands):
        updates.drop_speculative(m, history, msg.commands)  # a rejected update leaves no trace
        return m.finish()
    complete_started(m, msg)
    return with_next_event_id(m.finish())


def complete_started(m: Mutation, msg: CompleteWorkflowTask) -> None:
    """Apply `msg` to the run's outstanding task, which a worker started and ran: the transition
    of this operation, and of the fused completion (api/fused_completion.py) on the task its
    activity result scheduled."""
    state, history = m.state, m.history
    updates.materialize(m)
    wft, started_id = m.end_workflow_task(
        identity=msg.identity,
        history_size_bytes=msg.history_size_bytes,
        suggest_continue_as_new=msg.suggest_continue_as_new,
        started_time=msg.started_time,
    )
    state.last_wft_failure = state.last_wft_failure_cause = None
    cause = "BadCommandAttributes"
    problem = _invalid(state, msg.commands) or child_commands.invalid(state, msg.commands)
    if problem is None and (problem := memo.oversized_memo(history, msg.commands)) is not None:
        cause = memo.BAD_MEMO_CAUSE
    if problem is not None:
        m.add_event(
            ev.WorkflowTaskFailed(
                scheduled_event_id=wft.scheduled_event_id,
                started_event_id=started_id,
                cause=cause,
                failure=Failure(message=problem, type=cause),
                identity=msg.identity,
            )
        )
        state.sticky_queue = None
        m.flush_buffered()
        m.retry_workflow_task_later(wft.attempt + 1)
        return
    if _closes(msg.commands) and (state.buffered_events or updates.has_undelivered(state)):
        _refuse_unhandled(m, wft.scheduled_event_id, started_id, msg.identity)
        return
    completed_id = m.add_event(
        ev.WorkflowTaskCompleted(
            scheduled_event_id=wft.scheduled_event_id, started_event_id=started_id, identity=msg.identity
        )
    )
    state.sticky_queue = msg.sticky_queue
    if msg.current_details is not None:
        state.current_details = msg.current_details or None
    needs_task = False
    eager = EagerSlots.of(msg)
    for command in msg.commands:
        if not state.is_running:
            break  # commands after a close command are ignored, as in Temporal
        if isinstance(command, cmd.RequestCancelActivityTask):
            needs_task = request_cancel_activity.apply(m, command, completed_id) or needs_task
            continue
        _apply(m, command, completed_id, eager)
    if state.is_running and (m.flush_buffered() or needs_task):
        m.schedule_workflow_task()
    updates.after_task(m, history, wft.scheduled_event_id)


def with_next_event_id(outcome: Outcome) -> Outcome:
    """The eager activities the completion handed out (to the worker's own queue) carry the run's
    next event id, so that the worker may fuse its result with the next workflow task
    (api/fused_completion.py). Only when the run is left idle: with a task outstanding (events
    flushed, a speculative task for an update) or the run closed, a fused completion would be
    refused, so the worker is not asked to try (0)."""
    st = outcome.state
    if st is None or not st.is_running or st.workflow_task is not None or st.wft_retry_attempt is not None:
        return outcome
    for i, o in enumerate(outcome.outbox):
        msg = o.message
        if isinstance(msg, AddActivityTask) and msg.worker_queue is not None:
            task = msg.task.model_copy(update={"next_event_id": st.next_event_id})
            outcome.outbox[i] = dataclasses.replace(o, message=msg.model_copy(update={"task": task}))
    return outcome


def _not_seen(
    state: MutableState, history: Sequence[HistoryEvent], msg: CompleteWorkflowTask, *, now: datetime
) -> Outcome:
    """The worker ran the task without inputs history wrote before its WorkflowTaskStarted (they
    arrived while the task waited in the shared queue). Its commands are not applied and nothing
    is written: the same task goes back to that worker with those events, and counts as started
    from now on (later inputs wait behind it). A copy of this completion arriving again after
    that is dropped: the task sent again answers."""
    wft = state.workflow_task
    assert wft is not None
    if not wft.unstarted:
        return unchanged()
    m = Mutation(state, history, now=now)
    state.sticky_queue = msg.sticky_queue
    m.redispatch_workflow_task()
    return m.finish()


CLOSE_COMMANDS = (
    cmd.CompleteWorkflowExecution,
    cmd.FailWorkflowExecution,
    cmd.CancelWorkflowExecution,
    cmd.ContinueAsNewWorkflowExecution,
)


def _closes(commands: Sequence[cmd.Command]) -> bool:
    return any(isinstance(c, CLOSE_COMMANDS) for c in commands)


def _refuse_unhandled(m: Mutation, scheduled_event_id: int, started_id: int, identity: str) -> None:
    """None of the task's commands is applied: the worker replays from history (which now shows
    the inputs it missed) and issues them again. Not a worker failure, so the next task is a
    first attempt, dispatched at once; updates the refused task carried go out with it again."""
    m.add_event(
        ev.WorkflowTaskFailed(
            scheduled_event_id=scheduled_event_id,
            started_event_id=started_id,
            cause=UNHANDLED_COMMAND,
            failure=Failure(
                message="the workflow tried to close while new events (signals, results, cancel "
                "requests or updates) were waiting for it; a new task delivers them",
                type=UNHANDLED_COMMAND,
            ),
            identity=identity,
        )
    )
    # The worker dropped its cached instance with the close (and its view is now behind
    # history): the next task goes to the shared queue with the full history.
    m.state.sticky_queue = None
    m.flush_buffered()
    m.schedule_workflow_task()


def _invalid(state: MutableState, commands: Sequence[cmd.Command]) -> str | None:
    for c in commands:
        if not isinstance(c, SUPPORTED):
            return f"command {c.type} is not supported by this server version"
        if isinstance(c, cmd.ScheduleActivityTask):
            if c.start_to_close_timeout is None and c.schedule_to_close_timeout is None:
                return (
                    f"ScheduleActivityTask {c.activity_id!r}: set start_to_close_timeout or "
                    "schedule_to_close_timeout"
                )
            if any(a.activity_id == c.activity_id for a in state.activities.values()):
                return f"ScheduleActivityTask: activity id {c.activity_id!r} is already in use"
        if isinstance(c, cmd.UpsertWorkflowSearchAttributesCommand):
            bad = invalid_search_attributes(c.search_attributes, allow_none=True)
            if bad is not None:
                return f"UpsertWorkflowSearchAttributes: {bad}"
        if isinstance(c, cmd.StartTimer) and c.timer_id in state.timers:
            return f"StartTimer: timer id {c.timer_id!r} is already in use"
    return None


def _apply(m: Mutation, c: cmd.Command, completed_id: int, eager: EagerSlots) -> None:
    st = m.state
    if child_commands.apply(m, c, completed_id):
        return
    if isinstance(c, cmd.ScheduleActivityTask):
        task_queue = c.task_queue or st.task_queue
        priority = c.priority.inherit(st.priority) if c.priority is not None else st.priority
        event_id = m.add_event(
            ev.ActivityTaskScheduled(
                activity_id=c.activity_id,
                activity_type=c.activity_type,
                task_queue=task_queue,
                input=c.input,
                schedule_to_close_timeout=c.schedule_to_close_timeout,
                schedule_to_start_timeout=c.schedule_to_start_timeout,
                start_to_close_timeout=c.start_to_close_timeout,
                heartbeat_timeout=c.heartbeat_timeout,
                workflow_task_completed_event_id=completed_id,
                retry_policy=c.retry_policy,
                priority=priority,
                summary=c.summary,
                header=c.header,
            )
        )
        info = ActivityInfo(
            scheduled_event_id=event_id,
            activity_id=c.activity_id,
            activity_type=c.activity_type,
            task_queue=task_queue,
            input=c.input,
            scheduled_time=m.now,
            current_attempt_scheduled_time=m.now,
            schedule_to_close_timeout=c.schedule_to_close_timeout,
            start_to_close_timeout=c.start_to_close_timeout or c.schedule_to_close_timeout,
            heartbeat_timeout=c.heartbeat_timeout,
            retry_policy=resolve_policy(c.retry_policy),
            schedule_to_start_timeout=c.schedule_to_start_timeout,
            priority=priority,
            header=c.header,
        )
        st.activities[event_id] = info
        if c.schedule_to_close_timeout is not None:
            m.set_timer(
                TimerKind.ACTIVITY_TIMEOUT,
                fire_at=m.now + c.schedule_to_close_timeout,
                scheduled_event_id=event_id,
            )
        worker_queue = eager.take(st, c, task_queue)
        m.dispatch_activity(info, worker_queue=worker_queue, identity=eager.identity if worker_queue else "")
    elif isinstance(c, cmd.StartTimer):
        event_id = m.add_event(
            ev.TimerStarted(
                timer_id=c.timer_id,
                start_to_fire_timeout=c.start_to_fire_timeout,
                workflow_task_completed_event_id=completed_id,
                summary=c.summary,
            )
        )
        fire_at = m.now + c.start_to_fire_timeout
        st.timers[c.timer_id] = TimerInfo(timer_id=c.timer_id, started_event_id=event_id, fire_at=fire_at)
        m.set_timer(TimerKind.USER_TIMER, fire_at=fire_at, timer_id=c.timer_id, scheduled_event_id=event_id)
    elif isinstance(c, cmd.CancelTimer):
        timer = st.timers.pop(c.timer_id, None)
        if timer is not None:
            m.delete_timer(
                timer_key(
                    st.run_id,
                    TimerKind.USER_TIMER,
                    timer_id=c.timer_id,
                    scheduled_event_id=timer.started_event_id,
                )
            )
            m.add_event(
                ev.TimerCanceled(
                    timer_id=c.timer_id,
                    started_event_id=timer.started_event_id,
                    workflow_task_completed_event_id=completed_id,
                )
            )
    elif isinstance(c, cmd.CompleteWorkflowExecution):
        result = c.result
        cron_runs.close(
            m,
            WorkflowExecutionStatus.COMPLETED,
            lambda new_run_id: ev.WorkflowExecutionCompleted(
                result=result, workflow_task_completed_event_id=completed_id, new_execution_run_id=new_run_id
            ),
            result=result,
        )
    elif isinstance(c, cmd.FailWorkflowExecution):
        if (delay := workflow_retry.delay(m, c.failure)) is not None:
            workflow_retry.apply(m, c.failure, completed_id, delay)
            return
        failure = c.failure
        cron_runs.close(
            m,
            WorkflowExecutionStatus.FAILED,
            lambda new_run_id: ev.WorkflowExecutionFailed(
                failure=failure,
                workflow_task_completed_event_id=completed_id,
                new_execution_run_id=new_run_id,
            ),
            failure=failure,
        )
    elif isinstance(c, cmd.CancelWorkflowExecution):
        m.close(
            WorkflowExecutionStatus.CANCELED,
            ev.WorkflowExecutionCanceled(details=c.details, workflow_task_completed_event_id=completed_id),
        )
    elif isinstance(c, cmd.RecordMarker):
        m.add_event(
            ev.MarkerRecorded(
                marker_name=c.marker_name,
                details=c.details,
                failure=c.failure,
                workflow_task_completed_event_id=completed_id,
                summary=c.summary,
            )
        )
    elif isinstance(c, cmd.ProtocolMessage):
        updates.apply_protocol(m, c, completed_id)
    elif isinstance(c, cmd.UpsertWorkflowSearchAttributesCommand):
        m.add_event(
            ev.UpsertWorkflowSearchAttributes(
                search_attributes=c.search_attributes, workflow_task_completed_event_id=completed_id
            )
        )
    elif isinstance(c, cmd.ModifyWorkflowPropertiesCommand):
        m.add_event(
            ev.WorkflowPropertiesModified(
                upserted_memo=c.upserted_memo, workflow_task_completed_event_id=completed_id
            )
        )
