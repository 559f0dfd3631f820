"""Workflow updates in history: admission, speculative workflow tasks, protocol messages.

An admitted update lives in mutable state (`MutableState.updates`), not in history. It reaches a
worker inside a workflow task (`WorkflowTask.updates`). If no task is outstanding, history
dispatches a *speculative* one: the task's WorkflowTaskScheduled event is handed to the worker
(with the next free event id) but not written. When the worker's completion carries only
rejections, history drops the task without writing anything, so a rejected update leaves no
trace in history (as in Temporal). Any other outcome (an accept, another command, a failure or a
timeout) first writes the WorkflowTaskScheduled with the id and time the worker saw, then
proceeds as for any task. Nothing else can write an event while a task is outstanding (events
are buffered), so that id is still free.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import TYPE_CHECKING

from tidal_schema import Failure, HistoryEvent, limits, names, sizes
from tidal_schema import commands as cmd
from tidal_schema import events as ev
from tidal_schema.messages import AddWorkflowTask, TimerKind, UpdateRequest, WorkflowTask

from . import dedup
from .state import MutableState, UpdateInfo, WorkflowTaskInfo
from .timer_keys import wft_timeout_key

if TYPE_CHECKING:
    from .mutation import Mutation  # which builds its workflow tasks with pending() below

_KEEP_FINISHED = 100
# Temporal's history.maxInFlightUpdates: updates admitted or accepted and not yet completed, per
# run. Each keeps its input (up to 2 MiB) in mutable state until then.
MAX_IN_FLIGHT = 10
ADMITTED, ACCEPTED, COMPLETED = "admitted", "accepted", "completed"


def admit(state: MutableState, info: UpdateInfo, *, now: datetime) -> None:
    state.updates[info.update_id] = info
    finished = [k for k, u in state.updates.items() if u.stage == COMPLETED]
    for k in finished[: max(0, len(finished) - _KEEP_FINISHED)]:
        del state.updates[k]
        dedup.remember(state, dedup.UPDATE, k, now=now)  # its outcome is gone, its id is not


# What one task carries of admitted updates' inputs and headers: with its events (at most a quarter
# of a bus message, sizes.task_history_budget) and its own fields, the task fits the default bus
# limit. Every admitted update is acknowledged, and each may hold up to 2 MiB: a task carrying
# them all could outgrow the bus limit and never be published, on every retry of the task.
UPDATES_MAX_BYTES = limits.MESSAGE_MAX_BYTES // 4


def in_flight(state: MutableState) -> int:
    return sum(1 for u in state.updates.values() if u.stage != COMPLETED)


def pending(state: MutableState, scheduled_event_id: int) -> tuple[UpdateRequest, ...]:
    """The admitted updates a task dispatched now carries (remembering that it carries them), in
    admission order, as many as fit UPDATES_MAX_BYTES (at least one); the others go with the next
    task (`has_undelivered`)."""
    out: list[UpdateRequest] = []
    size = 0
    full = False
    for u in state.updates.values():
        if u.stage != ADMITTED:
            continue
        n = sizes.payloads_size((*u.input, *u.header.values())) + sum(map(len, u.header))
        full = full or bool(out and size + n > UPDATES_MAX_BYTES)
        if full:  # this one and every later one (admission order) go with the next task
            u.delivered_in = None
            continue
        size += n
        u.delivered_in = scheduled_event_id
        out.append(UpdateRequest(update_id=u.update_id, name=u.name, input=u.input, header=u.header))
    return tuple(out)


def has_undelivered(state: MutableState) -> bool:
    return any(u.stage == ADMITTED and u.delivered_in is None for u in state.updates.values())


def schedule_speculative(m: Mutation, history: Sequence[HistoryEvent]) -> None:
    st = m.state
    sid = st.next_event_id
    st.speculative_tasks += 1
    timer_id = f"s{st.speculative_tasks}"  # the next one may get the same event id
    st.workflow_task = WorkflowTaskInfo(
        scheduled_event_id=sid, scheduled_time=m.now, speculative=True, timer_id=timer_id
    )
    m.set_timer(
        TimerKind.WORKFLOW_TASK_TIMEOUT,
        fire_at=m.now + st.workflow_task_timeout,
        timer_id=timer_id,
        scheduled_event_id=sid,
        attempt=1,
    )
    unwritten = HistoryEvent(event_id=sid, event_time=m.now, attributes=_scheduled(st))
    events = (*history, *m.new_events, unwritten)
    task = WorkflowTask(
        namespace=st.namespace,
        workflow_id=st.workflow_id,
        run_id=st.run_id,
        workflow_type=st.workflow_type,
        task_queue=st.task_queue,
        scheduled_event_id=sid,
        first_event_id=1,
        history_length=len(events),
        events=events,
        history_routing_key=names.shard_routing_key(st.shard_id),
        updates=pending(st, sid),
        speculative=True,
        priority=st.priority,
    )
    m.send(
        names.MATCHING_EXCHANGE,
        names.MATCHING_ROUTING_KEY,
        AddWorkflowTask(sticky_queue=st.sticky_queue, task=task),
    )


def materialize(m: Mutation) -> None:
    """Write the outstanding speculative task's WorkflowTaskScheduled, as the worker saw it."""
    wft = m.state.workflow_task
    if wft is None or not wft.speculative:
        return
    assert m.state.next_event_id == wft.scheduled_event_id, "an event was written under a speculative task"
    now, m.now = m.now, wft.scheduled_time
    try:
        m.add_event(_scheduled(m.state))
    finally:
        m.now = now
    wft.speculative = False


def only_rejections(commands: Sequence[cmd.Command]) -> bool:
    return all(isinstance(c, cmd.ProtocolMessage) and c.kind == "reject" for c in commands)


def drop_speculative(m: Mutation, history: Sequence[HistoryEvent], commands: Sequence[cmd.Command]) -> None:
    """The speculative task only rejected updates: forget it, write nothing (but the rejections
    in state), and carry on with whatever arrived meanwhile."""
    st = m.state
    wft = st.workflow_task
    assert wft is not None and wft.speculative
    m.delete_timer(wft_timeout_key(st.run_id, wft))
    st.workflow_task = None
    for c in commands:
        assert isinstance(c, cmd.ProtocolMessage)
        _reject(st, c)
    _ignored(st, wft.scheduled_event_id)
    if m.flush_buffered():
        m.schedule_workflow_task()
    elif has_undelivered(st):
        schedule_speculative(m, history)


def after_task(m: Mutation, history: Sequence[HistoryEvent], scheduled_event_id: int) -> None:
    """A (written) task completed: updates it carried but did not answer fail; updates admitted
    while it ran go out with the next task, or, if there is none, with a speculative one."""
    st = m.state
    _ignored(st, scheduled_event_id)
    if st.is_running and st.workflow_task is None and st.wft_retry_attempt is None and has_undelivered(st):
        schedule_speculative(m, history)


def apply_protocol(m: Mutation, c: cmd.ProtocolMessage, completed_id: int) -> None:
    st = m.state
    u = st.updates.get(c.update_id)
    if u is None:
        return  # forgotten long ago, or never admitted here: nothing to record it against
    if c.kind == "reject":
        _reject(st, c)
    elif c.kind == "accept" and u.stage == ADMITTED:
        u.accepted_event_id = m.add_event(
            ev.WorkflowExecutionUpdateAccepted(
                update_id=u.update_id, name=u.name, input=u.input, header=u.header
            )
        )
        u.stage = ACCEPTED
    elif c.kind == "complete" and u.stage == ACCEPTED:
        assert u.accepted_event_id is not None
        m.add_event(
            ev.WorkflowExecutionUpdateCompleted(
                update_id=u.update_id,
                accepted_event_id=u.accepted_event_id,
                result=c.result,
                failure=c.failure,
            )
        )
        u.stage, u.result, u.failure = COMPLETED, c.result, c.failure


def _reject(st: MutableState, c: cmd.ProtocolMessage) -> None:
    u = st.updates.get(c.update_id)
    if u is not None and u.stage == ADMITTED:
        u.stage, u.rejected = COMPLETED, True
        u.failure = c.failure or Failure(message="update rejected", type="UpdateRejected")


def _ignored(st: MutableState, scheduled_event_id: int) -> None:
    for u in st.updates.values():
        if u.stage == ADMITTED and u.delivered_in == scheduled_event_id:
            u.stage, u.rejected = COMPLETED, True
            u.failure = Failure(
                message=f"the worker did not handle update {u.name!r} (does it support updates?)",
                type="UpdateNotHandled",
            )


def _scheduled(st: MutableState) -> ev.WorkflowTaskScheduled:
    return ev.WorkflowTaskScheduled(
        task_queue=st.task_queue, start_to_close_timeout=st.workflow_task_timeout, attempt=1
    )
