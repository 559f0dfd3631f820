"""The run document round trip: a state built by history's own transitions and serialized by
history's writer (store_types.state_columns) is read by the frontend's describe
(tidal_schema.run_document.RunDocument) with every pending activity, timer, child and workflow
task field filled in. A field renamed on either side leaves one of them empty, and fails here
instead of silently emptying describe."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from typing import Any

from pydantic import BaseModel
from tidal_frontend.api.describe_workflow import (
    PendingActivity,
    PendingChild,
    PendingTimer,
    PendingWorkflowTask,
    WorkflowTaskFailure,
    describe,
)
from tidal_frontend.store import ExecutionRow
from tidal_history.api import (
    child_workflow_started,
    complete_workflow_task,
    fail_activity_task,
    fail_workflow_task,
    fire_timer,
    record_activity_heartbeat,
    record_activity_started,
    start_child_workflow,
    start_workflow,
)
from tidal_history.mutation import Outcome
from tidal_history.operation import OperationContext
from tidal_history.state import MutableState
from tidal_history.store_types import RunWrite, state_columns
from tidal_schema import Failure, HistoryEvent, Payload, RetryPolicy
from tidal_schema import commands as cmd
from tidal_schema.messages import (
    ChildWorkflowStarted,
    CompleteWorkflowTask,
    FailActivityTask,
    FailWorkflowTask,
    ParentRef,
    RecordActivityTaskHeartbeat,
    RecordActivityTaskStarted,
    StartWorkflowExecution,
    TimerKind,
)
from tidal_schema.messages import StartChildWorkflowExecution as StartChild

T0 = datetime(2026, 3, 1, tzinfo=UTC)
WF, RUN = "order-1", "run-1"


class _Run:
    """One run driven through history's transitions, as the shard would."""

    def __init__(self, outcome: Outcome) -> None:
        assert outcome.state is not None
        self.state: MutableState = outcome.state
        self.history: list[HistoryEvent] = list(outcome.events)
        self.now = T0
        self.last = outcome

    def apply(self, handle: Any, msg: Any, *, after: float = 1) -> Outcome:
        self.now += timedelta(seconds=after)
        o: Outcome = handle(OperationContext(now=self.now, state=self.state, history=self.history), msg)
        self.history += o.events
        self.last = o
        return o

    @property
    def task(self) -> int:
        assert self.state.workflow_task is not None
        return self.state.workflow_task.scheduled_event_id

    def complete(self, *commands: cmd.Command) -> Outcome:
        msg = CompleteWorkflowTask(
            workflow_id=WF, run_id=RUN, scheduled_event_id=self.task, commands=commands
        )
        return self.apply(complete_workflow_task.handle, msg)


def _activity(activity_id: str, **kw: Any) -> cmd.ScheduleActivityTask:
    return cmd.ScheduleActivityTask(
        activity_id=activity_id,
        activity_type="charge",
        task_queue="q",
        start_to_close_timeout=timedelta(seconds=30),
        **kw,
    )


def _busy_run() -> _Run:
    start = StartWorkflowExecution(
        workflow_id=WF,
        workflow_type="Order",
        task_queue="q",
        request_id="r1",
        start_delay=timedelta(seconds=5),
        static_summary="an order",
        static_details="with **details**",
    )
    r = _Run(start_workflow.handle(OperationContext(now=T0, new_run_id=RUN, shard_id=2), start))
    # The start delay: the first workflow task is scheduled when its retry timer fires.
    assert r.state.workflow_task is None
    (first,) = [t for t in r.last.timers_set if t.fire.kind is TimerKind.WORKFLOW_TASK_RETRY]
    r.apply(fire_timer.handle, first.fire, after=5)
    assert r.state.workflow_task is not None
    r.complete(
        # 5: fails its first attempt and backs off before the second
        _activity(
            "pay",
            schedule_to_close_timeout=timedelta(hours=1),
            retry_policy=RetryPolicy(initial_interval=timedelta(seconds=300), maximum_attempts=5),
        ),
        # 6: picked up by a worker that heartbeats
        _activity("copy", heartbeat_timeout=timedelta(seconds=10)),
        cmd.StartTimer(timer_id="t1", start_to_fire_timeout=timedelta(minutes=5)),
        cmd.StartChildWorkflowExecution(
            namespace="default", workflow_id="kid", workflow_type="Ship", task_queue="q"
        ),
    )
    by_id = {a.activity_id: a.scheduled_event_id for a in r.state.activities.values()}
    failure = Failure(message="card declined", type="Declined", stack_trace="File 'pay.py', line 7")
    r.apply(
        fail_activity_task.handle,
        FailActivityTask(
            workflow_id=WF,
            run_id=RUN,
            scheduled_event_id=by_id["pay"],
            attempt=1,
            failure=failure,
            identity="w-1",
        ),
    )
    started = RecordActivityTaskStarted(
        workflow_id=WF, run_id=RUN, scheduled_event_id=by_id["copy"], attempt=1, identity="w-2"
    )
    r.apply(record_activity_started.handle, started)
    beat = RecordActivityTaskHeartbeat(
        workflow_id=WF,
        run_id=RUN,
        scheduled_event_id=by_id["copy"],
        attempt=1,
        details=(Payload(data={"done": 40}),),
        identity="w-2",
    )
    r.apply(record_activity_heartbeat.handle, beat)
    (initiated,) = r.state.children
    kid = ChildWorkflowStarted(
        workflow_id=WF,
        run_id=RUN,
        initiated_event_id=initiated,
        child_workflow_id="kid",
        child_run_id="kid-run",
        workflow_type="Ship",
    )
    r.apply(child_workflow_started.handle, kid)  # schedules a workflow task...
    boom = Failure(message="nondeterminism", type="NondeterminismError")
    r.apply(  # ...which fails, and is retried at once: pending, with the failure shown
        fail_workflow_task.handle,
        FailWorkflowTask(
            workflow_id=WF, run_id=RUN, scheduled_event_id=r.task, failure=boom, cause="BadCode"
        ),
    )
    return r


def _row(state: MutableState, *, next_event_id: int) -> ExecutionRow:
    """The row as the frontend reads it, with the document exactly as history's writer stores it."""
    doc, _result = state_columns(RunWrite(state=state, old_version=None))
    return ExecutionRow(
        namespace=state.namespace,
        workflow_id=state.workflow_id,
        run_id=state.run_id,
        workflow_type=state.workflow_type,
        task_queue=state.task_queue,
        status=state.status,
        start_time=state.start_time,
        close_time=state.close_time,
        next_event_id=next_event_id,
        state=json.loads(doc),
        memo={},
        search_attributes={},
        result=None,
    )


def _empty_fields(items: list[BaseModel], model: type[BaseModel]) -> set[str]:
    """The model's fields that no item fills in (None, empty, zero or blank in every one)."""
    return {
        name
        for name in model.model_fields
        if not any(getattr(i, name) not in (None, [], "", 0) for i in items)
    }


def test_describe_reads_every_pending_field_history_writes() -> None:
    r = _busy_run()
    d = describe(_row(r.state, next_event_id=r.state.next_event_id))
    assert [a.state for a in d.pending_activities] == ["BackingOff", "Started"]
    assert _empty_fields(list(d.pending_activities), PendingActivity) == set()
    pay, copy = d.pending_activities
    assert (pay.attempt, pay.maximum_attempts, pay.last_failure_message) == (2, 5, "card declined")
    assert pay.last_failure is not None and pay.last_failure.stack_trace == "File 'pay.py', line 7"
    assert pay.expiration_time == pay.scheduled_time + timedelta(hours=1)  # type: ignore[operator]
    assert pay.next_attempt_schedule_time == pay.current_attempt_scheduled_time
    assert copy.heartbeat_details[0].data == {"done": 40} and copy.last_worker_identity == "w-2"
    assert _empty_fields(list(d.pending_timers), PendingTimer) == set()
    assert d.pending_timers[0].timer_id == "t1"
    assert _empty_fields(list(d.pending_children), PendingChild) == set()
    assert (d.pending_children[0].workflow_id, d.pending_children[0].run_id) == ("kid", "kid-run")
    assert d.pending_workflow_task is not None
    assert _empty_fields([d.pending_workflow_task], PendingWorkflowTask) == set()
    assert d.pending_workflow_task.attempt == 2
    assert d.last_workflow_task_failure is not None
    assert _empty_fields([d.last_workflow_task_failure], WorkflowTaskFailure) == set()
    assert d.last_workflow_task_failure.cause == "BadCode"
    assert (d.static_summary, d.static_details) == ("an order", "with **details**")
    assert d.execution_time == T0 + timedelta(seconds=5)
    assert d.history_length == len(r.history)


def test_describe_reads_the_parent_history_writes_for_a_child() -> None:
    start = StartChild(
        workflow_id="kid",
        workflow_type="Ship",
        task_queue="q",
        request_id="p/7",
        parent=ParentRef(namespace="default", workflow_id=WF, run_id=RUN, initiated_event_id=7),
    )
    o = start_child_workflow.handle(OperationContext(now=T0, new_run_id="kid-run"), start)
    assert o.state is not None
    doc = _row(o.state, next_event_id=o.state.next_event_id).document()
    assert doc is not None and doc.parent is not None
    assert (doc.parent.workflow_id, doc.parent.run_id, doc.parent.initiated_event_id) == (WF, RUN, 7)


def test_a_document_from_a_newer_history_still_reads() -> None:
    r = _busy_run()
    row = _row(r.state, next_event_id=r.state.next_event_id)
    newer = {**row.state, "a_field_from_the_future": {"x": 1}}
    newer["activities"] = {k: {**v, "also_new": True} for k, v in newer["activities"].items()}
    d = describe(ExecutionRow(**{**row.__dict__, "state": newer}))
    assert len(d.pending_activities) == 2 and d.pending_workflow_task is not None
