"""The fused completion as a transition (api/fused_completion.py; docs/performance.md, "The fused
completion"): an activity result carrying the next workflow task's completion is applied as one
transaction when nothing reached the run since the eager attempt was handed out, and is exactly
a plain CompleteActivityTask otherwise. Messages built by hand, as a worker would send them."""

from __future__ import annotations

import copy
from collections.abc import Callable
from datetime import timedelta
from typing import Any

import pytest
from tidal_history.api import (
    complete_activity_task,
    complete_workflow_task,
    fire_timer,
    signal_workflow,
    terminate_workflow,
    update_workflow,
)
from tidal_history.limits import HistoryLimits, enforce_blob_size
from tidal_history.mutation import Outcome
from tidal_history.operation import OperationContext
from tidal_history.poison import failed_task
from tidal_history.state import MutableState, WorkflowTaskInfo
from tidal_schema import Failure, HistoryEvent, Payload, WorkflowExecutionStatus
from tidal_schema import commands as cmd
from tidal_schema.messages import (
    AckReply,
    ActivityTask,
    AddActivityTask,
    AddWorkflowTask,
    CompleteActivityTask,
    CompleteWorkflowTask,
    ErrorReply,
    FireTimer,
    ScheduleTimer,
    SignalWorkflowExecution,
    TerminateWorkflowExecution,
    TimerKind,
    UpdateWorkflowExecution,
    WorkflowClosed,
)

from .test_transitions import T0, _start

STICKY = "tidal.sticky.worker-1-abcd"
TAKEN = T0 + timedelta(seconds=1, milliseconds=500)  # when the worker ran the fused task
NOW = T0 + timedelta(seconds=2)  # when history applies the fused message


def _eager(activity_id: str = "a1") -> cmd.ScheduleActivityTask:
    return cmd.ScheduleActivityTask(
        activity_id=activity_id,
        activity_type="charge",
        task_queue="q",
        start_to_close_timeout=timedelta(seconds=30),
        request_eager_execution=True,
    )


def _ctx(state: MutableState | None, history: list[HistoryEvent], now: Any = NOW) -> OperationContext:
    return OperationContext(now=now, state=state, history=list(history))


def _adds(o: Outcome) -> list[AddActivityTask]:
    return [x.message for x in o.outbox if isinstance(x.message, AddActivityTask)]


def _to_eager(
    first: tuple[cmd.Command, ...] = (),
) -> tuple[MutableState, list[HistoryEvent], ActivityTask]:
    """A run whose first task (completed on the worker's sticky queue) scheduled one eager
    activity: the state, its events (1..5) and the ActivityTask handed to the worker."""
    o = _start()
    assert o.state is not None
    history = list(o.events)
    o = complete_workflow_task.handle(
        _ctx(o.state, history, T0 + timedelta(seconds=1)),
        CompleteWorkflowTask(
            workflow_id="w1",
            run_id="run1",
            scheduled_event_id=2,
            commands=(*first, _eager()),
            sticky_queue=STICKY,
            identity="worker-1",
        ),
    )
    assert o.state is not None
    history += o.events
    (add,) = [a for a in _adds(o) if a.worker_queue == STICKY]
    return o.state, history, add.task


def _nested(s: int, commands: tuple[cmd.Command, ...], **kw: Any) -> CompleteWorkflowTask:
    fields: dict[str, Any] = {
        "workflow_id": "w1",
        "run_id": "run1",
        "scheduled_event_id": s + 2,
        "seen_event_id": s + 2,
        "attempt": 1,
        "commands": commands,
        "sticky_queue": STICKY,
        "identity": "worker-1",
        "started_time": TAKEN,
        "history_size_bytes": 1234,
    }
    return CompleteWorkflowTask(**{**fields, **kw})


def _result(
    task: ActivityTask, nested: CompleteWorkflowTask | None = None, **kw: Any
) -> CompleteActivityTask:
    fields: dict[str, Any] = {
        "workflow_id": "w1",
        "run_id": "run1",
        "scheduled_event_id": task.scheduled_event_id,
        "attempt": task.attempt,
        "result": (Payload(data="charged"),),
        "identity": "worker-1",
        "workflow_task": nested,
    }
    return CompleteActivityTask(**{**fields, **kw})


def _complete(s: int, result: Any = "done") -> tuple[cmd.Command, ...]:
    return (cmd.CompleteWorkflowExecution(result=(Payload(data=result),)),)


def _dump(o: Outcome) -> dict[str, Any]:
    """Everything an outcome commits and sends, as bytes would compare."""
    return {
        "events": [e.model_dump_json() for e in o.events],
        "outbox": [(x.exchange, x.routing_key, x.message.model_dump_json()) for x in o.outbox],
        "timers_set": [t.model_dump_json() for t in o.timers_set],
        "timers_deleted": list(o.timers_deleted),
        "reply": o.reply.model_dump_json() if o.reply is not None else None,
        "state": o.state.model_dump_json() if o.state is not None else None,
        "changed": o.changed,
    }


def _attrs(events: Any) -> list[tuple[int, str]]:
    """Events as a replay reads them (ids and attributes; not the times history wrote them at)."""
    return [(e.event_id, e.attributes.model_dump_json()) for e in events]


def _plain_then_task(
    state: MutableState, history: list[HistoryEvent], msg: CompleteActivityTask
) -> tuple[Outcome, Outcome]:
    """What history does with the same result and task completion sent as two messages (at the
    worker taking the task after it was scheduled): the result, then the sticky task's completion."""
    assert msg.workflow_task is not None
    alone = msg.model_copy(update={"workflow_task": None})
    first = complete_activity_task.handle(_ctx(state, history, TAKEN - timedelta(milliseconds=100)), alone)
    assert first.state is not None
    second = complete_workflow_task.handle(_ctx(first.state, [*history, *first.events]), msg.workflow_task)
    return first, second


# --- ActivityTask.next_event_id --------------------------------------------------------------


def test_an_eager_attempt_carries_the_runs_next_event_id_after_the_completion() -> None:
    state, history, task = _to_eager()
    assert [e.event_id for e in history] == [1, 2, 3, 4, 5] and state.next_event_id == 6
    assert task.next_event_id == 6


def test_attempts_through_matching_carry_no_next_event_id() -> None:
    o = _start()
    assert o.state is not None
    plain = _eager("m").model_copy(update={"request_eager_execution": False})
    other_queue = _eager("o").model_copy(update={"task_queue": "other"})
    done = complete_workflow_task.handle(
        _ctx(o.state, list(o.events)),
        CompleteWorkflowTask(
            workflow_id="w1", run_id="run1", scheduled_event_id=2, commands=(plain, other_queue)
        ),
    )
    assert [(a.worker_queue, a.task.next_event_id) for a in _adds(done)] == [(None, 0), (None, 0)]
    # Without a sticky queue there is no eager dispatch, hence no next event id either.
    no_sticky = complete_workflow_task.handle(
        _ctx(_start().state, list(o.events)),
        CompleteWorkflowTask(workflow_id="w1", run_id="run1", scheduled_event_id=2, commands=(_eager(),)),
    )
    assert [(a.worker_queue, a.task.next_event_id) for a in _adds(no_sticky)] == [(None, 0)]


def test_no_next_event_id_when_the_completion_leaves_a_task_outstanding() -> None:
    """A signal buffered during the task schedules the next task right away: a fused result
    would be refused, so the worker is not asked to try."""
    o = _start()
    assert o.state is not None and o.state.workflow_task is not None
    o.state.workflow_task.unstarted = False  # a worker took it
    history = list(o.events)
    sig = signal_workflow.handle(
        _ctx(o.state, history),
        SignalWorkflowExecution(workflow_id="w1", run_id="run1", signal_name="s", request_id="sig-1"),
    )
    assert sig.state is not None and sig.state.buffered_events  # the task counts as started (sticky)
    done = complete_workflow_task.handle(
        _ctx(sig.state, [*history, *sig.events]),
        CompleteWorkflowTask(
            workflow_id="w1", run_id="run1", scheduled_event_id=2, commands=(_eager(),), sticky_queue=STICKY
        ),
    )
    (add,) = _adds(done)
    assert add.worker_queue == STICKY and add.task.next_event_id == 0
    assert done.state is not None and done.state.workflow_task is not None


def test_retries_carry_no_next_event_id() -> None:
    state, _, task = _to_eager()
    timeout = FireTimer(
        workflow_id="w1",
        run_id="run1",
        kind=TimerKind.ACTIVITY_TIMEOUT,
        key="k",
        scheduled_event_id=task.scheduled_event_id,
        attempt=1,
    )
    o = fire_timer.handle(_ctx(state, [], T0 + timedelta(seconds=40)), timeout)
    (retry,) = [t for t in o.timers_set if t.fire.kind is TimerKind.ACTIVITY_RETRY]
    o = fire_timer.handle(_ctx(o.state, [], retry.fire_at), retry.fire)
    (add,) = _adds(o)
    assert add.task.attempt == 2 and add.task.next_event_id == 0


# --- accepted ----------------------------------------------------------------------------------


def test_an_accepted_fused_completion_writes_the_events_the_worker_assumed() -> None:
    state, history, task = _to_eager()
    s = task.next_event_id
    o = complete_activity_task.handle(_ctx(state, history), _result(task, _nested(s, _complete(s))))
    got = [(e.event_id, e.event_type) for e in o.events]
    assert got == [
        (s, "ActivityTaskStarted"),
        (s + 1, "ActivityTaskCompleted"),
        (s + 2, "WorkflowTaskScheduled"),
        (s + 3, "WorkflowTaskStarted"),
        (s + 4, "WorkflowTaskCompleted"),
        (s + 5, "WorkflowExecutionCompleted"),
    ]
    a: list[Any] = [e.attributes for e in o.events]
    assert (a[0].scheduled_event_id, a[0].attempt, a[0].identity) == (5, 1, "worker-1")
    assert (a[1].scheduled_event_id, a[1].started_event_id) == (5, s)
    assert a[1].result == (Payload(data="charged"),)
    assert (a[2].task_queue, a[2].attempt) == ("q", 1)
    assert a[3].scheduled_event_id == s + 2 and a[3].identity == "worker-1"
    # The worker's own start time and history size, as on any task: a replay's workflow.now().
    assert (a[3].started_time, a[3].history_size_bytes) == (TAKEN, 1234)
    assert (a[4].scheduled_event_id, a[4].started_event_id) == (s + 2, s + 3)
    assert a[5].workflow_task_completed_event_id == s + 4
    assert o.state is not None and o.state.status is WorkflowExecutionStatus.COMPLETED
    # One transaction: the close notification with the result, and no task for the worker.
    assert not [x for x in o.outbox if isinstance(x.message, AddWorkflowTask)]
    (closed,) = [x.message for x in o.outbox if isinstance(x.message, WorkflowClosed)]
    assert closed.has_outcome and closed.result == (Payload(data="done"),)
    assert isinstance(o.reply, AckReply)


def test_accepted_equals_the_result_then_the_sticky_tasks_completion() -> None:
    """Events, state, timers and the second message's outbox are what two messages produce: a
    replay from stored history gives the worker the same events either way."""
    state, history, task = _to_eager()
    s = task.next_event_id
    commands = (
        cmd.StartTimer(timer_id="t1", start_to_fire_timeout=timedelta(hours=1)),
        cmd.RecordMarker(marker_name="m"),
        cmd.ScheduleActivityTask(
            activity_id="a2",
            activity_type="ship",
            task_queue="q",
            start_to_close_timeout=timedelta(seconds=9),
        ),
    )
    msg = _result(task, _nested(s, commands))
    fused = complete_activity_task.handle(_ctx(copy.deepcopy(state), history), msg)
    first, second = _plain_then_task(copy.deepcopy(state), history, msg)
    assert _attrs(fused.events) == _attrs([*first.events, *second.events])
    assert _dump(fused)["state"] == _dump(second)["state"]
    assert _dump(fused)["outbox"] == [
        *(o for o in _dump(first)["outbox"] if "WorkflowTask" not in o[2]),
        *_dump(second)["outbox"],
    ]
    # The task's timeout timer is set and deleted in the same transaction: never written.
    assert not [t for t in fused.timers_set if t.fire.kind is TimerKind.WORKFLOW_TASK_TIMEOUT]


def test_the_events_are_those_the_sdks_history_builder_records() -> None:
    """What a replay from history gives the worker: the same ids and links as the SDK's own model
    of history (libs/sdk/tidal/_runtime/history_builder.py) for a result then a task."""
    from tidal._runtime.history_builder import HistoryBuilder

    state, history, task = _to_eager()
    s = task.next_event_id
    o = complete_activity_task.handle(_ctx(state, history), _result(task, _nested(s, _complete(s))))
    b = HistoryBuilder("Order", workflow_id="w1", run_id="run1", task_queue="q")
    b.complete_task([_eager()])
    b.activity_completed("a1", "charged")
    b.schedule_task()
    b.complete_task(list(_complete(s)))

    def shape(events: Any) -> list[tuple[int, str, int, int]]:
        return [
            (
                e.event_id,
                e.event_type,
                getattr(e.attributes, "scheduled_event_id", 0),
                getattr(e.attributes, "started_event_id", 0),
            )
            for e in events
        ]

    assert shape([*history, *o.events]) == shape(b.events)


def test_eager_activities_of_the_fused_task_carry_their_own_next_event_id() -> None:
    state, history, task = _to_eager()
    s = task.next_event_id
    o = complete_activity_task.handle(_ctx(state, history), _result(task, _nested(s, (_eager("a2"),))))
    assert o.state is not None
    (add,) = _adds(o)
    assert add.worker_queue == STICKY and add.task.scheduled_event_id == s + 5
    assert add.task.next_event_id == o.state.next_event_id == s + 6
    assert not [x for x in o.outbox if isinstance(x.message, AddWorkflowTask)]
    # ...and a second round trip fuses again.
    s2 = add.task.next_event_id
    o2 = complete_activity_task.handle(
        _ctx(o.state, [*history, *o.events], NOW + timedelta(seconds=1)),
        _result(add.task, _nested(s2, _complete(s2))),
    )
    assert o2.events[0].event_id == s2 and o2.events[-1].event_type == "WorkflowExecutionCompleted"


def test_a_short_task_timeout_sends_no_timer_message_for_the_fused_task() -> None:
    state, history, task = _to_eager()
    state.workflow_task_timeout = timedelta(seconds=1)  # within the timer message horizon
    s = task.next_event_id
    o = complete_activity_task.handle(_ctx(state, history), _result(task, _nested(s, ())))
    assert not [x for x in o.outbox if isinstance(x.message, ScheduleTimer)]
    assert o.state is not None and o.state.workflow_task is None


def test_a_duplicate_of_an_accepted_fused_completion_is_a_no_op() -> None:
    state, history, task = _to_eager()
    s = task.next_event_id
    msg = _result(task, _nested(s, (cmd.RecordMarker(marker_name="m"),)))
    o = complete_activity_task.handle(_ctx(state, history), msg)
    assert o.state is not None and o.changed
    dup = complete_activity_task.handle(_ctx(o.state, [*history, *o.events]), msg)
    assert not dup.changed and not dup.events and not dup.outbox and isinstance(dup.reply, ErrorReply)
    # ...and so is the nested completion arriving alone (the task is not outstanding).
    assert msg.workflow_task is not None
    alone = complete_workflow_task.handle(_ctx(o.state, [*history, *o.events]), msg.workflow_task)
    assert not alone.changed and not alone.events


def test_a_fused_task_with_invalid_commands_fails_as_a_plain_completion_does() -> None:
    """A command history rejects (an activity id in use) fails the task, as it would for the
    same completion sent alone: WorkflowTaskFailed after the worker's WorkflowTaskStarted, the
    sticky queue dropped, the retry through the shared queue with the full history."""
    state, history, task = _to_eager()
    s = task.next_event_id
    no_timeout = _eager("a2").model_copy(update={"start_to_close_timeout": None})
    msg = _result(task, _nested(s, (cmd.RecordMarker(marker_name="m"), no_timeout)))
    fused = complete_activity_task.handle(_ctx(copy.deepcopy(state), history), msg)
    first, second = _plain_then_task(copy.deepcopy(state), history, msg)
    assert [e.event_type for e in fused.events][2:] == [
        "WorkflowTaskScheduled",
        "WorkflowTaskStarted",
        "WorkflowTaskFailed",
        "WorkflowTaskScheduled",  # attempt 2, at once
    ]
    (retry,) = [x.message for x in fused.outbox if isinstance(x.message, AddWorkflowTask)]
    assert retry.sticky_queue is None and retry.task.attempt == 2
    assert _attrs(fused.events) == _attrs([*first.events, *second.events])
    assert _dump(fused)["state"] == _dump(second)["state"]
    assert fused.state is not None and fused.state.sticky_queue is None
    assert fused.state.activities.keys() == set()  # a1's result applied; no command applied


def test_the_result_and_a_close_in_one_transaction_when_the_task_closes_the_run() -> None:
    state, history, task = _to_eager()
    s = task.next_event_id
    failure_close = (cmd.FailWorkflowExecution(failure=Failure(message="no")),)
    o = complete_activity_task.handle(_ctx(state, history), _result(task, _nested(s, failure_close)))
    assert o.state is not None and o.state.status is WorkflowExecutionStatus.FAILED
    assert [e.event_type for e in o.events][:2] == ["ActivityTaskStarted", "ActivityTaskCompleted"]
    (closed,) = [x.message for x in o.outbox if isinstance(x.message, WorkflowClosed)]
    assert closed.status is WorkflowExecutionStatus.FAILED


# --- refused -----------------------------------------------------------------------------------


def _signal(state: MutableState, history: list[HistoryEvent]) -> tuple[MutableState, list[HistoryEvent]]:
    o = signal_workflow.handle(
        _ctx(state, history),
        SignalWorkflowExecution(workflow_id="w1", run_id="run1", signal_name="s", request_id="sig-1"),
    )
    assert o.state is not None
    return o.state, [*history, *o.events]


def _task_outstanding(
    state: MutableState, history: list[HistoryEvent]
) -> tuple[MutableState, list[HistoryEvent]]:
    # A task scheduled without an event of its own: a speculative one, as an update makes.
    state.workflow_task = WorkflowTaskInfo(
        scheduled_event_id=state.next_event_id, scheduled_time=T0, speculative=True
    )
    return state, history


def _retry_pending(
    state: MutableState, history: list[HistoryEvent]
) -> tuple[MutableState, list[HistoryEvent]]:
    state.wft_retry_attempt, state.wft_retry_event_id = 3, state.next_event_id
    return state, history


def _update(state: MutableState, history: list[HistoryEvent]) -> tuple[MutableState, list[HistoryEvent]]:
    o = update_workflow.handle(
        _ctx(state, history),
        UpdateWorkflowExecution(workflow_id="w1", run_id="run1", update_id="u1", name="approve"),
    )
    assert o.state is not None and o.state.next_event_id == state.next_event_id  # nothing written
    return o.state, [*history, *o.events]


def _update_admitted_not_sent(
    state: MutableState, history: list[HistoryEvent]
) -> tuple[MutableState, list[HistoryEvent]]:
    state, history = _update(state, history)
    state.workflow_task = None  # as if its speculative task were dropped, the update still waiting
    for u in state.updates.values():
        u.delivered_in = None
    return state, history


def _timer_fired(state: MutableState, history: list[HistoryEvent]) -> tuple[MutableState, list[HistoryEvent]]:
    info = state.timers["t0"]
    o = fire_timer.handle(
        _ctx(state, history),
        FireTimer(
            workflow_id="w1",
            run_id="run1",
            kind=TimerKind.USER_TIMER,
            key="k",
            timer_id="t0",
            scheduled_event_id=info.started_event_id,
        ),
    )
    assert o.state is not None and o.events
    return o.state, [*history, *o.events]


def _buffered(state: MutableState, history: list[HistoryEvent]) -> tuple[MutableState, list[HistoryEvent]]:
    state.buffered_events.append({"type": "MarkerRecorded", "marker_name": "x"})
    return state, history


def _through_matching(
    state: MutableState, history: list[HistoryEvent]
) -> tuple[MutableState, list[HistoryEvent]]:
    for info in state.activities.values():
        info.started_identity = ""  # as an attempt handed out by matching
    return state, history


Before = Callable[[MutableState, list[HistoryEvent]], tuple[MutableState, list[HistoryEvent]]]


def _same(state: MutableState, history: list[HistoryEvent]) -> tuple[MutableState, list[HistoryEvent]]:
    return state, history


REFUSALS: dict[str, tuple[Before, dict[str, Any], dict[str, Any]]] = {
    # name: (what happens to the run first, changes to the nested completion (ids: + s), to the
    # outer one)
    "a signal moved the next event id": (_signal, {}, {}),
    "a timer fire moved the next event id": (_timer_fired, {}, {}),
    "a workflow task is outstanding": (_task_outstanding, {}, {}),
    "a workflow task waits for its retry": (_retry_pending, {}, {}),
    "an update is pending": (_update, {}, {}),
    "an update is admitted and not sent": (_update_admitted_not_sent, {}, {}),
    "buffered events": (_buffered, {}, {}),
    "the nested run id is another run's": (_same, {"run_id": "run2"}, {}),
    "the nested workflow id is another workflow's": (_same, {"workflow_id": "w2"}, {}),
    "the nested namespace is another one": (_same, {"namespace": "other"}, {}),
    "the nested attempt is not 1": (_same, {"attempt": 2}, {}),
    "the attempt went through matching": (_through_matching, {}, {}),
    "another worker than the one the attempt was handed to": (_same, {"identity": "worker-2"}, {}),
    "the scheduled id is one too far": (_same, {"scheduled_event_id": 3, "seen_event_id": 3}, {}),
    "the scheduled id is one short": (_same, {"scheduled_event_id": 1, "seen_event_id": 1}, {}),
    "the seen id is past the task": (_same, {"seen_event_id": 3}, {}),
}


@pytest.mark.parametrize("reason", REFUSALS)
def test_a_refused_fused_completion_is_exactly_the_result_alone(reason: str) -> None:
    before, nested_kw, outer_kw = REFUSALS[reason]
    timer = cmd.StartTimer(timer_id="t0", start_to_fire_timeout=timedelta(seconds=30))
    state, history, task = _to_eager((timer,))
    state, history = before(state, history)
    s = task.next_event_id
    # Ids in the changes are relative to the task the worker assumed (s + 2).
    ids = {k: s + v if k.endswith("event_id") else v for k, v in nested_kw.items()}
    close = _nested(s, _complete(s), **ids)
    msg = _result(task, close, **outer_kw)
    fused = complete_activity_task.handle(_ctx(copy.deepcopy(state), history), msg)
    plain = complete_activity_task.handle(
        _ctx(copy.deepcopy(state), history), msg.model_copy(update={"workflow_task": None})
    )
    assert _dump(fused) == _dump(plain)  # byte for byte: today's behaviour
    assert fused.state is not None and fused.state.status is WorkflowExecutionStatus.RUNNING
    assert "ActivityTaskCompleted" in [e.event_type for e in fused.events] or fused.state.buffered_events
    assert "WorkflowTaskCompleted" not in [e.event_type for e in fused.events]


def test_a_refused_fused_completion_sends_the_sticky_task() -> None:
    state, history, task = _to_eager()
    state, history = _signal(state, history)
    s = task.next_event_id
    o = complete_activity_task.handle(_ctx(state, history), _result(task, _nested(s, _complete(s))))
    assert o.state is not None and o.state.status is WorkflowExecutionStatus.RUNNING
    # The signal scheduled a task; the result is buffered behind it (the worker gets both).
    assert o.state.workflow_task is not None and len(o.state.buffered_events) == 2


@pytest.mark.parametrize("stale", ["closed", "attempt"])
def test_a_fused_completion_for_a_closed_run_or_stale_attempt_changes_nothing(stale: str) -> None:
    state, history, task = _to_eager()
    s = task.next_event_id
    msg = _result(task, _nested(s, _complete(s)))
    if stale == "closed":
        o = terminate_workflow.handle(_ctx(state, history), TerminateWorkflowExecution(workflow_id="w1"))
        assert o.state is not None
        state, history = o.state, [*history, *o.events]
    else:
        msg = msg.model_copy(update={"attempt": 2})
    o = complete_activity_task.handle(_ctx(state, history), msg)
    assert not o.changed and not o.events and not o.outbox and isinstance(o.reply, ErrorReply)


# --- hostile input at the edges --------------------------------------------------------------


def test_oversized_nested_commands_refuse_the_fused_completion_not_the_result() -> None:
    lim = HistoryLimits(blob_size=1000)
    _, _, task = _to_eager()
    s = task.next_event_id
    big = (cmd.CompleteWorkflowExecution(result=(Payload(data="x" * 2000),)),)
    out = enforce_blob_size(_result(task, _nested(s, big)), lim)
    assert isinstance(out, CompleteActivityTask) and out.workflow_task is None
    assert out.result == (Payload(data="charged"),)
    small = _result(task, _nested(s, _complete(s)))
    assert enforce_blob_size(small, lim) == small


def test_a_poison_fused_completion_is_retried_as_the_result_alone() -> None:
    _, _, task = _to_eager()
    msg = _result(task, _nested(task.next_event_id, _complete(task.next_event_id)))
    out = failed_task(msg, "boom")
    assert out == msg.model_copy(update={"workflow_task": None})
    assert failed_task(out, "boom") is None  # the result alone is dead-lettered as before
