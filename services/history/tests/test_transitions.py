"""Pure state-transition tests: message in, events/outbox/timers out."""

from datetime import UTC, datetime, timedelta

from tidal_history.api import (
    complete_activity_task,
    complete_workflow_task,
    fail_activity_task,
    fire_timer,
    signal_workflow,
    start_workflow,
)
from tidal_history.mutation import Outcome
from tidal_history.operation import OperationContext
from tidal_schema import Failure, Payload, RetryPolicy, WorkflowExecutionStatus
from tidal_schema import commands as cmd
from tidal_schema.messages import (
    AddActivityTask,
    AddWorkflowTask,
    CompleteActivityTask,
    CompleteWorkflowTask,
    ErrorReply,
    FailActivityTask,
    SignalWorkflowExecution,
    StartWorkflowExecution,
    StartWorkflowReply,
    TimerKind,
    WorkflowClosed,
)

T0 = datetime(2026, 1, 1, tzinfo=UTC)


def _start() -> Outcome:
    msg = StartWorkflowExecution(
        workflow_id="w1", workflow_type="Order", task_queue="q", request_id="r1", input=(Payload(data="o-1"),)
    )
    return start_workflow.handle(OperationContext(now=T0, current=None, new_run_id="run1", shard_id=3), msg)


def _types(o: Outcome) -> list[str]:
    return [e.event_type for e in o.events]


def _outbox(o: Outcome, kind: type) -> list:
    return [x.message for x in o.outbox if isinstance(x.message, kind)]


def test_start_writes_started_and_first_task_and_dispatches_it() -> None:
    o = _start()
    assert _types(o) == ["WorkflowExecutionStarted", "WorkflowTaskScheduled"]
    assert [e.event_id for e in o.events] == [1, 2]
    assert isinstance(o.reply, StartWorkflowReply) and o.reply.run_id == "run1"
    (add,) = _outbox(o, AddWorkflowTask)
    assert add.task.scheduled_event_id == 2 and len(add.task.events) == 2
    assert add.task.history_routing_key == "shard.3"
    assert [t.fire.kind for t in o.timers_set] == [TimerKind.WORKFLOW_TASK_TIMEOUT]


def test_one_activity_workflow_runs_to_completion() -> None:
    o = _start()
    state, history = o.state, list(o.events)
    assert state is not None
    sched = cmd.ScheduleActivityTask(
        activity_id="1", activity_type="charge", task_queue="q", start_to_close_timeout=timedelta(seconds=30)
    )
    o = complete_workflow_task.handle(
        OperationContext(now=T0 + timedelta(seconds=1), state=state, history=history),
        CompleteWorkflowTask(
            workflow_id="w1", run_id="run1", scheduled_event_id=2, commands=(sched,), sticky_queue="sq"
        ),
    )
    history += o.events
    assert _types(o) == ["WorkflowTaskStarted", "WorkflowTaskCompleted", "ActivityTaskScheduled"]
    (act,) = _outbox(o, AddActivityTask)
    assert act.task.scheduled_event_id == 5 and act.task.attempt == 1
    assert o.state is not None and o.state.sticky_queue == "sq"
    # A duplicate completion of the same workflow task changes nothing.
    dup = complete_workflow_task.handle(
        OperationContext(now=T0, state=o.state, history=history),
        CompleteWorkflowTask(workflow_id="w1", run_id="run1", scheduled_event_id=2),
    )
    assert not dup.changed
    o = complete_activity_task.handle(
        OperationContext(now=T0 + timedelta(seconds=2), state=o.state, history=history),
        CompleteActivityTask(
            workflow_id="w1", run_id="run1", scheduled_event_id=5, attempt=1, result=(Payload(data="ok"),)
        ),
    )
    history += o.events
    assert _types(o) == ["ActivityTaskStarted", "ActivityTaskCompleted", "WorkflowTaskScheduled"]
    assert o.events[1].attributes.started_event_id == 6  # type: ignore[union-attr]
    (wft,) = _outbox(o, AddWorkflowTask)
    assert wft.sticky_queue == "sq" and wft.task.history_length == 8
    assert o.state is not None
    o = complete_workflow_task.handle(
        OperationContext(now=T0, state=o.state, history=history),
        CompleteWorkflowTask(
            workflow_id="w1",
            run_id="run1",
            scheduled_event_id=8,
            commands=(cmd.CompleteWorkflowExecution(result=(Payload(data="done"),)),),
        ),
    )
    history += o.events
    assert o.state is not None and o.state.status is WorkflowExecutionStatus.COMPLETED
    assert [e.event_id for e in history] == list(range(1, 12))
    assert _outbox(o, WorkflowClosed)


def test_duplicate_start_is_answered_and_conflict_is_refused() -> None:
    current = start_workflow.CurrentRun(
        run_id="run1", status=WorkflowExecutionStatus.RUNNING, start_request_id="r1"
    )
    same = StartWorkflowExecution(workflow_id="w1", workflow_type="T", task_queue="q", request_id="r1")
    o = start_workflow.handle(OperationContext(now=T0, current=current, new_run_id="x", shard_id=0), same)
    assert not o.changed and isinstance(o.reply, StartWorkflowReply) and o.reply.run_id == "run1"
    other = same.model_copy(update={"request_id": "r2"})
    o = start_workflow.handle(OperationContext(now=T0, current=current, new_run_id="x", shard_id=0), other)
    assert isinstance(o.reply, ErrorReply) and o.reply.code == "already_started"


def test_activity_failure_retries_with_backoff_then_fails() -> None:
    o = _start()
    assert o.state is not None
    history = list(o.events)
    sched = cmd.ScheduleActivityTask(
        activity_id="1",
        activity_type="a",
        task_queue="q",
        start_to_close_timeout=timedelta(seconds=5),
        retry_policy=RetryPolicy(maximum_attempts=2),
    )
    o = complete_workflow_task.handle(
        OperationContext(now=T0, state=o.state, history=history),
        CompleteWorkflowTask(workflow_id="w1", run_id="run1", scheduled_event_id=2, commands=(sched,)),
    )
    history += o.events
    boom = Failure(message="boom")
    assert o.state is not None
    o = fail_activity_task.handle(
        OperationContext(now=T0, state=o.state, history=history),
        FailActivityTask(workflow_id="w1", run_id="run1", scheduled_event_id=5, attempt=1, failure=boom),
    )
    assert o.events == []  # retries write no events
    (retry,) = [t for t in o.timers_set if t.fire.kind is TimerKind.ACTIVITY_RETRY]
    assert retry.fire_at == T0 + timedelta(seconds=1) and retry.fire.attempt == 2
    assert o.state is not None
    o = fire_timer.handle(OperationContext(now=retry.fire_at, state=o.state, history=history), retry.fire)
    (act,) = _outbox(o, AddActivityTask)
    assert act.task.attempt == 2
    assert o.state is not None
    # A stale completion for attempt 1 is ignored.
    stale = complete_activity_task.handle(
        OperationContext(now=T0, state=o.state, history=history),
        CompleteActivityTask(workflow_id="w1", run_id="run1", scheduled_event_id=5, attempt=1),
    )
    assert not stale.changed
    o = fail_activity_task.handle(
        OperationContext(now=T0, state=o.state, history=history),
        FailActivityTask(workflow_id="w1", run_id="run1", scheduled_event_id=5, attempt=2, failure=boom),
    )
    assert _types(o) == ["ActivityTaskStarted", "ActivityTaskFailed", "WorkflowTaskScheduled"]


def _complete(o: Outcome, history: list, *, seen: int = 0, sticky: str | None = "tidal.sticky.w") -> Outcome:
    assert o.state is not None and o.state.workflow_task is not None
    msg = CompleteWorkflowTask(
        workflow_id="w1",
        run_id="run1",
        scheduled_event_id=o.state.workflow_task.scheduled_event_id,
        sticky_queue=sticky,
        seen_event_id=seen,
    )
    return complete_workflow_task.handle(OperationContext(now=T0, state=o.state, history=history), msg)


def test_signals_before_the_first_task_starts_come_before_its_started_event() -> None:
    # Temporal's order: the task waits in the shared queue until a worker takes it, so signals
    # that arrive meanwhile are written at once, before its WorkflowTaskStarted.
    o = _start()
    assert o.state is not None and o.state.workflow_task is not None
    assert o.state.workflow_task.unstarted
    history = list(o.events)
    for n in range(3):
        sig = SignalWorkflowExecution(workflow_id="w1", signal_name="approve", request_id=f"s{n}")
        o = signal_workflow.handle(OperationContext(now=T0, state=o.state, history=history), sig)
        assert _types(o) == ["WorkflowExecutionSignaled"] and not _outbox(o, AddWorkflowTask)
        history += o.events
        assert not signal_workflow.handle(
            OperationContext(now=T0, state=o.state, history=history), sig
        ).changed  # deduplicated
    # The worker ran the task as first dispatched (events 1-2): nothing is written, and the same
    # task goes back to that worker's queue with the signals; it now counts as started.
    refused = _complete(o, history, seen=2)
    assert refused.events == [] and refused.state is not None
    (again,) = _outbox(refused, AddWorkflowTask)
    assert again.sticky_queue == "tidal.sticky.w" and again.task.scheduled_event_id == 2
    assert [e.event_id for e in again.task.events] == [1, 2, 3, 4, 5]
    late = SignalWorkflowExecution(workflow_id="w1", signal_name="approve", request_id="late")
    o = signal_workflow.handle(OperationContext(now=T0, state=refused.state, history=history), late)
    assert o.events == [] and o.state is not None and len(o.state.buffered_events) == 1
    # A redelivered copy of the refused completion is dropped; the one that saw them is applied.
    assert not _complete(o, history, seen=2).changed
    o = _complete(o, history, seen=5)
    assert _types(o) == [
        "WorkflowTaskStarted",
        "WorkflowTaskCompleted",
        "WorkflowExecutionSignaled",
        "WorkflowTaskScheduled",
    ]
    assert o.events[0].event_id == 6 and o.state is not None and not o.state.workflow_task.unstarted  # type: ignore[union-attr]


def test_a_completion_that_saw_every_early_signal_is_applied_at_once() -> None:
    o = _start()
    history = list(o.events)
    sig = SignalWorkflowExecution(workflow_id="w1", signal_name="approve", request_id="s1")
    o = signal_workflow.handle(OperationContext(now=T0, state=o.state, history=history), sig)
    history += o.events
    o = _complete(o, history, seen=3, sticky=None)
    assert _types(o) == ["WorkflowTaskStarted", "WorkflowTaskCompleted"]


def test_a_sticky_task_counts_as_started_and_signals_wait_behind_it() -> None:
    o = _start()
    history = list(o.events)
    o = _complete(o, history, seen=2)
    history += o.events
    sig = SignalWorkflowExecution(workflow_id="w1", signal_name="approve", request_id="s1")
    o = signal_workflow.handle(OperationContext(now=T0, state=o.state, history=history), sig)
    history += o.events
    assert o.state is not None and o.state.workflow_task is not None
    assert not o.state.workflow_task.unstarted  # dispatched to the worker's own queue
    sig2 = SignalWorkflowExecution(workflow_id="w1", signal_name="approve", request_id="s2")
    o = signal_workflow.handle(OperationContext(now=T0, state=o.state, history=history), sig2)
    assert o.events == [] and o.state is not None and len(o.state.buffered_events) == 1
    o = _complete(o, history, seen=6)
    assert _types(o) == [
        "WorkflowTaskStarted",
        "WorkflowTaskCompleted",
        "WorkflowExecutionSignaled",
        "WorkflowTaskScheduled",
    ]


def test_user_timer_fires_once_and_stale_fire_is_ignored() -> None:
    o = _start()
    assert o.state is not None
    history = list(o.events)
    o = complete_workflow_task.handle(
        OperationContext(now=T0, state=o.state, history=history),
        CompleteWorkflowTask(
            workflow_id="w1",
            run_id="run1",
            scheduled_event_id=2,
            commands=(cmd.StartTimer(timer_id="1", start_to_fire_timeout=timedelta(seconds=1)),),
        ),
    )
    history += o.events
    (timer,) = [t for t in o.timers_set if t.fire.kind is TimerKind.USER_TIMER]
    assert timer.fire_at == T0 + timedelta(seconds=1)
    assert o.state is not None
    o = fire_timer.handle(OperationContext(now=timer.fire_at, state=o.state, history=history), timer.fire)
    history += o.events
    assert _types(o) == ["TimerFired", "WorkflowTaskScheduled"]
    assert timer.key in o.timers_deleted
    assert o.state is not None
    o = fire_timer.handle(OperationContext(now=timer.fire_at, state=o.state, history=history), timer.fire)
    assert not o.changed and o.events == []


def test_stale_fires_cost_no_write_and_a_close_deletes_pending_timer_rows() -> None:
    o = _start()
    assert o.state is not None
    history = list(o.events)
    (wft_timeout,) = [t for t in o.timers_set if t.fire.kind is TimerKind.WORKFLOW_TASK_TIMEOUT]
    sched = cmd.ScheduleActivityTask(
        activity_id="1", activity_type="a", task_queue="q", start_to_close_timeout=timedelta(seconds=5)
    )
    o = complete_workflow_task.handle(
        OperationContext(now=T0, state=o.state, history=history),
        CompleteWorkflowTask(
            workflow_id="w1",
            run_id="run1",
            scheduled_event_id=2,
            commands=(sched, cmd.StartTimer(timer_id="t", start_to_fire_timeout=timedelta(hours=1))),
        ),
    )
    history += o.events
    assert wft_timeout.key in o.timers_deleted  # completing the task deleted its timeout row
    assert o.state is not None
    # The workflow task's timeout fires late: stale, so nothing is written at all.
    stale = fire_timer.handle(
        OperationContext(now=T0 + timedelta(seconds=10), state=o.state, history=history), wft_timeout.fire
    )
    assert not stale.changed and stale.events == [] and stale.timers_deleted == []
    pending = {t.key for t in o.timers_set}
    o = complete_activity_task.handle(
        OperationContext(now=T0, state=o.state, history=history),
        CompleteActivityTask(workflow_id="w1", run_id="run1", scheduled_event_id=5, attempt=1),
    )
    history += o.events
    assert o.state is not None
    o = complete_workflow_task.handle(
        OperationContext(now=T0, state=o.state, history=history),
        CompleteWorkflowTask(
            workflow_id="w1",
            run_id="run1",
            scheduled_event_id=o.state.workflow_task.scheduled_event_id,  # type: ignore[union-attr]
            commands=(cmd.CompleteWorkflowExecution(),),
        ),
    )
    user_timer = next(k for k in pending if "user_timer" in k)
    assert user_timer in o.timers_deleted  # the still-pending user timer's row goes with the close


def test_cancel_request_is_recorded_once_and_refused_for_unknown_runs() -> None:
    from tidal_history.api import request_cancel_workflow
    from tidal_schema.messages import AckReply, RequestCancelWorkflowExecution

    o = _start()
    assert o.state is not None
    history = list(o.events)
    o = complete_workflow_task.handle(
        OperationContext(now=T0, state=o.state, history=history),
        CompleteWorkflowTask(workflow_id="w1", run_id="run1", scheduled_event_id=2),
    )
    history += o.events
    assert o.state is not None
    req = RequestCancelWorkflowExecution(workflow_id="w1", request_id="c1")
    o = request_cancel_workflow.handle(OperationContext(now=T0, state=o.state, history=history), req)
    assert _types(o) == ["WorkflowExecutionCancelRequested", "WorkflowTaskScheduled"]
    assert isinstance(o.reply, AckReply)
    assert o.state is not None
    again = request_cancel_workflow.handle(
        OperationContext(now=T0, state=o.state, history=history), req.model_copy(update={"request_id": "c2"})
    )
    # Recorded once: a second request only has its id remembered (a retry after the close is
    # answered as it was: test_request_dedup.py).
    assert again.events == [] and isinstance(again.reply, AckReply)
    missing = request_cancel_workflow.handle(OperationContext(now=T0, state=None, history=[]), req)
    assert isinstance(missing.reply, ErrorReply) and missing.reply.code == "not_found"
