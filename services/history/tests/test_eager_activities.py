"""Eager activity dispatch as a transition: which activities a completion gets handed back, and
what the outbox row and the recorded attempt look like (docs/performance.md, "Hops and
messages")."""

from datetime import timedelta

from tidal_history import direct
from tidal_history.api import complete_activity_task, complete_workflow_task, fire_timer
from tidal_history.api.eager_activities import MAX_PER_TASK
from tidal_history.mutation import Outcome
from tidal_history.operation import OperationContext
from tidal_schema import Payload
from tidal_schema import commands as cmd
from tidal_schema.messages import (
    ActivityTask,
    AddActivityTask,
    AddWorkflowTask,
    CompleteActivityTask,
    CompleteWorkflowTask,
    FireTimer,
    TimerKind,
    WorkflowTask,
)

from .test_transitions import T0, _start

STICKY = "tidal.sticky.worker-1-abcd"


def _schedule(n: int, *, task_queue: str = "q", eager: bool = True) -> tuple[cmd.Command, ...]:
    return tuple(
        cmd.ScheduleActivityTask(
            activity_id=f"{task_queue}-{i}",
            activity_type="charge",
            task_queue=task_queue,
            start_to_close_timeout=timedelta(seconds=30),
            request_eager_execution=eager,
        )
        for i in range(n)
    )


def _complete(commands: tuple[cmd.Command, ...], *, sticky: str | None = STICKY) -> Outcome:
    o = _start()
    assert o.state is not None
    return complete_workflow_task.handle(
        OperationContext(now=T0 + timedelta(seconds=1), state=o.state, history=list(o.events)),
        CompleteWorkflowTask(
            workflow_id="w1",
            run_id="run1",
            scheduled_event_id=2,
            commands=commands,
            sticky_queue=sticky,
            identity="worker-1",
        ),
    )


def _adds(o: Outcome) -> list[AddActivityTask]:
    return [x.message for x in o.outbox if isinstance(x.message, AddActivityTask)]


def test_at_most_three_eager_activities_per_task_and_only_on_the_runs_task_queue() -> None:
    o = _complete(_schedule(MAX_PER_TASK + 1) + _schedule(1, task_queue="other") + _schedule(1, eager=False))
    queues = [a.worker_queue for a in _adds(o)]
    assert queues == [STICKY] * MAX_PER_TASK + [None, None, None]
    assert o.state is not None
    identities = [a.started_identity for a in o.state.activities.values()]
    assert identities == ["worker-1"] * MAX_PER_TASK + ["", "", ""]
    # Each attempt has its start-to-close timer in the same transaction, eager or not.
    timers = [t for t in o.timers_set if t.fire.kind is TimerKind.ACTIVITY_TIMEOUT]
    assert len(timers) == MAX_PER_TASK + 3


def test_no_eager_dispatch_without_a_workers_own_queue() -> None:
    # No sticky queue, or one that is not a worker's (a completion could name any queue).
    for sticky in (None, "tidal.history.shard.0", "tidal.sticky."):
        assert [a.worker_queue for a in _adds(_complete(_schedule(1), sticky=sticky))] == [None]


def test_the_eager_row_is_the_bare_task_for_the_workers_queue() -> None:
    o = _complete(_schedule(1) + _schedule(1, eager=False))
    routed = [direct.to_worker(x) for x in o.outbox if isinstance(x.message, AddActivityTask)]
    assert (routed[0].exchange, routed[0].routing_key) == ("", STICKY)
    assert isinstance(routed[0].message, ActivityTask)
    assert routed[0].headers[direct.FALLBACK_HEADER] == "AddActivityTask"
    assert routed[1].routing_key != STICKY and isinstance(routed[1].message, AddActivityTask)


def test_a_sticky_workflow_task_goes_to_the_workers_queue() -> None:
    o = _complete(_schedule(1))
    assert o.state is not None
    (info,) = o.state.activities.values()
    done = complete_activity_task.handle(
        OperationContext(now=T0 + timedelta(seconds=2), state=o.state, history=[]),
        CompleteActivityTask(
            workflow_id="w1",
            run_id="run1",
            scheduled_event_id=info.scheduled_event_id,
            attempt=1,
            result=(Payload(data="ok"),),
            identity="worker-1",
        ),
    )
    (add,) = [x for x in done.outbox if isinstance(x.message, AddWorkflowTask)]
    routed = direct.to_worker(add)
    assert routed.routing_key == STICKY and isinstance(routed.message, WorkflowTask)
    # ...and ActivityTaskStarted names the worker the activity was handed to.
    started = next(e for e in done.events if e.event_type == "ActivityTaskStarted")
    assert started.attributes.identity == "worker-1"  # type: ignore[union-attr]


def test_a_timed_out_eager_attempt_is_retried_through_matching() -> None:
    """The worker died holding the eager task: start-to-close fires, the retry goes to matching."""
    o = _complete(_schedule(1))
    assert o.state is not None
    (info,) = o.state.activities.values()
    timeout = FireTimer(
        workflow_id="w1",
        run_id="run1",
        kind=TimerKind.ACTIVITY_TIMEOUT,
        key="k",
        scheduled_event_id=info.scheduled_event_id,
        attempt=1,
    )
    o = fire_timer.handle(
        OperationContext(now=T0 + timedelta(seconds=40), state=o.state, history=[]), timeout
    )
    retry = [t for t in o.timers_set if t.fire.kind is TimerKind.ACTIVITY_RETRY]
    assert len(retry) == 1 and o.state is not None
    o = fire_timer.handle(OperationContext(now=retry[0].fire_at, state=o.state, history=[]), retry[0].fire)
    (add,) = _adds(o)
    assert add.worker_queue is None and add.task.attempt == 2
    assert o.state is not None and o.state.activities[info.scheduled_event_id].started_identity == ""
