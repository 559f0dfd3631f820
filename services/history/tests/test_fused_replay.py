"""A run whose activity round trips were fused replays from history with the SDK's Replayer:
the events history writes for an accepted fused completion are the ones the worker's instance
ran on (ids, links, the task's start time). The worker is the SDK's own WorkflowInstance,
driven by hand the way a worker would fuse (the worker's side is tested in the SDK)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from tidal import workflow
from tidal._runtime import WorkflowInstance
from tidal.client import WorkflowHistory
from tidal.worker import Replayer
from tidal_history.api import complete_activity_task, complete_workflow_task, start_workflow
from tidal_history.operation import OperationContext
from tidal_schema import HistoryEvent, Payload
from tidal_schema import commands as cmd
from tidal_schema import events as ev
from tidal_schema.messages import (
    ActivityTask,
    AddActivityTask,
    AddWorkflowTask,
    CompleteActivityTask,
    CompleteWorkflowTask,
    StartWorkflowExecution,
    WorkflowTask,
)

T0 = datetime(2026, 1, 1, tzinfo=UTC)
STICKY = "tidal.sticky.worker-1-replay"
T = timedelta(seconds=10)


@workflow.defn(name="Pipeline")
class Pipeline:
    @workflow.run
    async def run(self, item: str) -> str:
        a = await workflow.execute_activity("reserve", item, start_to_close_timeout=T)
        t1 = workflow.now()
        b = await workflow.execute_activity("charge", a, start_to_close_timeout=T)
        return f"{b}@{(workflow.now() - t1).total_seconds()}"


def _eager(commands: tuple[cmd.Command, ...]) -> tuple[cmd.Command, ...]:
    return tuple(
        c.model_copy(update={"request_eager_execution": True})
        if isinstance(c, cmd.ScheduleActivityTask)
        else c
        for c in commands
    )


def _assumed(
    inst: WorkflowInstance, history: list[HistoryEvent], attempt: ActivityTask, at: datetime
) -> WorkflowTask:
    """The sticky task the worker assumes history would send after the result (what the worker's
    side builds): the events of its own last task from history's reply to it, then s, s + 1 and
    the task at s + 2, as the worker writes them."""
    s = attempt.next_event_id
    own = [e for e in history if inst.last_event_id < e.event_id < s]
    result = (Payload(data=f"{attempt.activity_type}-done"),)
    assumed = [
        ev.ActivityTaskStarted(scheduled_event_id=attempt.scheduled_event_id, identity="worker-1", attempt=1),
        ev.ActivityTaskCompleted(
            result=result,
            scheduled_event_id=attempt.scheduled_event_id,
            started_event_id=s,
            identity="worker-1",
        ),
        ev.WorkflowTaskScheduled(task_queue="q", start_to_close_timeout=T),
    ]
    events = (
        *own,
        *(HistoryEvent(event_id=s + i, event_time=at, attributes=a) for i, a in enumerate(assumed)),
    )
    return WorkflowTask(
        namespace="default",
        workflow_id="w1",
        run_id="run1",
        workflow_type="Pipeline",
        task_queue="q",
        scheduled_event_id=s + 2,
        first_event_id=events[0].event_id,
        history_length=s + 2,
        events=events,
        history_routing_key="shard.0",
        started_time=at,
    )


async def test_a_fused_run_replays_from_the_history_history_wrote() -> None:
    start = start_workflow.handle(
        OperationContext(now=T0, current=None, new_run_id="run1"),
        StartWorkflowExecution(
            workflow_id="w1",
            workflow_type="Pipeline",
            task_queue="q",
            request_id="r1",
            input=(Payload(data="book"),),
        ),
    )
    assert start.state is not None
    state, history = start.state, list(start.events)
    inst = WorkflowInstance(
        definition=workflow.get_definition(Pipeline), namespace="default", workflow_id="w1", run_id="run1"
    )
    (first,) = [x.message for x in start.outbox if isinstance(x.message, AddWorkflowTask)]
    now = T0 + timedelta(milliseconds=10)
    commands = _eager(inst.activate(first.task.model_copy(update={"started_time": now})))
    o = complete_workflow_task.handle(
        OperationContext(now=now, state=state, history=history),
        CompleteWorkflowTask(
            workflow_id="w1",
            run_id="run1",
            scheduled_event_id=2,
            commands=commands,
            sticky_queue=STICKY,
            identity="worker-1",
            started_time=now,
        ),
    )
    fused = 0
    takens = [now]
    while True:
        assert o.state is not None
        state, history = o.state, [*history, *o.events]
        adds = [x.message for x in o.outbox if isinstance(x.message, AddActivityTask)]
        if not adds:
            break
        (add,) = adds
        attempt = add.task
        assert attempt.next_event_id == state.next_event_id
        taken, now = now + timedelta(milliseconds=3), now + timedelta(milliseconds=5)
        task = _assumed(inst, history, attempt, taken)
        s = attempt.next_event_id
        nested = _eager(inst.activate(task))
        o = complete_activity_task.handle(
            OperationContext(now=now, state=state, history=history),
            CompleteActivityTask(
                workflow_id="w1",
                run_id="run1",
                scheduled_event_id=attempt.scheduled_event_id,
                attempt=1,
                result=task.events[-2].attributes.result,  # type: ignore[union-attr]
                identity="worker-1",
                workflow_task=CompleteWorkflowTask(
                    workflow_id="w1",
                    run_id="run1",
                    scheduled_event_id=s + 2,
                    seen_event_id=s + 2,
                    commands=nested,
                    sticky_queue=STICKY,
                    identity="worker-1",
                    started_time=taken,
                ),
            ),
        )
        assert any(e.event_type == "WorkflowTaskCompleted" for e in o.events), "refused"
        fused += 1
        takens.append(taken)
    assert fused == 2 and history[-1].event_type == "WorkflowExecutionCompleted"
    # What the worker's instance saw of each task's start is what history recorded for a replay.
    started = [e.attributes.started_time for e in history if e.event_type == "WorkflowTaskStarted"]
    assert started == takens
    assert history[-1].attributes.result == (Payload(data="charge-done@0.005"),)
    replay = await Replayer(workflows=[Pipeline]).replay_workflow(
        WorkflowHistory("w1", tuple(history), run_id="run1")
    )
    assert replay.replay_failure is None
