"""Every at-least-once input to a run (signals, cancel requests, updates) is applied once for as
long as a duplicate can arrive: request ids are kept per run, bounded by count and age, carried to
a continue-as-new successor, and a retry after the run closed gets the original answer."""

from __future__ import annotations

import json
from datetime import timedelta

from tidal_history import dedup
from tidal_history.api import (
    request_cancel_workflow,
    signal_with_start,
    signal_workflow,
    update_workflow,
)
from tidal_history.operation import CurrentRun, OperationContext
from tidal_history.state import MutableState
from tidal_schema import WorkflowExecutionStatus
from tidal_schema import commands as cmd
from tidal_schema.messages import (
    AckReply,
    ErrorReply,
    RequestCancelWorkflowExecution,
    SignalWithStartWorkflowExecution,
    SignalWorkflowExecution,
    StartWorkflowReply,
    UpdateWorkflowExecution,
)

from tests.support.history_run import RUN, T0, Run


def _sig(request_id: str, **extra: object) -> SignalWorkflowExecution:
    return SignalWorkflowExecution(workflow_id="w1", signal_name="add", request_id=request_id, **extra)  # type: ignore[arg-type]


def _signalled(r: Run) -> int:
    return sum(1 for e in r.history if e.event_type == "WorkflowExecutionSignaled") + sum(
        1 for b in r.state.buffered_events if b["type"] == "WorkflowExecutionSignaled"
    )


def test_a_redelivered_batch_of_300_signals_is_applied_once() -> None:
    """A history batch holds up to 256 messages (prefetch 512); the last 100 ids were not enough."""
    r = Run()
    for i in range(300):
        o = r.signal(f"s{i}")
        assert isinstance(o.reply, AckReply)
    assert _signalled(r) == 300
    for i in range(300):
        o = r.signal(f"s{i}")
        assert not o.changed and isinstance(o.reply, AckReply) and o.reply.run_id == RUN
    assert _signalled(r) == 300


def _closed_after_signal() -> Run:
    r = Run()
    r.signal("s1")  # written before the first task starts: that task sees it, then
    r.complete(cmd.CompleteWorkflowExecution())
    assert r.state.status is WorkflowExecutionStatus.COMPLETED
    return r


def test_a_signal_retried_after_the_run_closed_gets_the_original_answer() -> None:
    r = _closed_after_signal()
    for retry in (_sig("s1"), _sig("s1", run_id=RUN)):
        o = signal_workflow.handle(OperationContext(now=r.now, state=r.state, history=r.history), retry)
        assert not o.changed and isinstance(o.reply, AckReply) and o.reply.run_id == RUN
    fresh = signal_workflow.handle(OperationContext(now=r.now, state=r.state, history=r.history), _sig("s2"))
    assert isinstance(fresh.reply, ErrorReply) and fresh.reply.code == "not_found"


def test_a_cancel_request_retried_after_the_run_closed_gets_the_original_answer() -> None:
    r = Run()
    r.complete()
    cancel = RequestCancelWorkflowExecution(workflow_id="w1", request_id="c1")
    r.apply(request_cancel_workflow.handle, cancel)
    second = RequestCancelWorkflowExecution(workflow_id="w1", request_id="c2")  # acked, not recorded
    assert isinstance(r.apply(request_cancel_workflow.handle, second).reply, AckReply)
    r.complete(cmd.CancelWorkflowExecution())
    assert r.state.status is WorkflowExecutionStatus.CANCELED
    for retry in (cancel, second):
        o = request_cancel_workflow.handle(
            OperationContext(now=r.now, state=r.state, history=r.history), retry
        )
        assert not o.changed and isinstance(o.reply, AckReply) and o.reply.run_id == RUN
    other = RequestCancelWorkflowExecution(workflow_id="w1", request_id="c3")
    o = request_cancel_workflow.handle(OperationContext(now=r.now, state=r.state, history=r.history), other)
    assert isinstance(o.reply, ErrorReply) and o.reply.code == "not_found"


def test_signal_with_start_retried_after_the_run_it_signalled_closed_starts_nothing() -> None:
    r = Run()
    r.complete()
    sws = SignalWithStartWorkflowExecution(
        workflow_id="w1", workflow_type="Entity", task_queue="q", request_id="sws", signal_name="add"
    )
    current = CurrentRun(run_id=RUN, status=r.state.status, start_request_id=r.state.start_request_id)
    o = signal_with_start.handle(
        OperationContext(
            now=r.now, current=current, state=r.state, history=r.history, new_run_id="x", shard_id=0
        ),
        sws,
    )
    r.history += o.events
    assert isinstance(o.reply, StartWorkflowReply) and not o.reply.started
    r.complete(cmd.CompleteWorkflowExecution())  # the task its signal scheduled
    current = CurrentRun(run_id=RUN, status=r.state.status, start_request_id=r.state.start_request_id)
    o = signal_with_start.handle(
        OperationContext(
            now=r.now, current=current, state=r.state, history=r.history, new_run_id="x", shard_id=0
        ),
        sws,
    )
    assert not o.changed and not o.is_new_run
    assert isinstance(o.reply, StartWorkflowReply) and o.reply.run_id == RUN and not o.reply.started


def test_ids_are_carried_to_a_continue_as_new_successor_with_the_run_they_were_applied_to() -> None:
    r = Run()
    r.signal("s1")
    r.complete()
    r.apply(request_cancel_workflow.handle, RequestCancelWorkflowExecution(workflow_id="w1", request_id="c1"))
    r.complete()
    r.apply(update_workflow.handle, UpdateWorkflowExecution(workflow_id="w1", update_id="u1", name="set"))
    r.complete(cmd.ProtocolMessage(update_id="u1", kind="reject"))
    r.signal("s2")
    o = r.complete(cmd.ContinueAsNewWorkflowExecution(workflow_type="Entity", task_queue="q"))
    assert o.successor is not None and o.successor.state is not None
    nxt: MutableState = o.successor.state
    history = list(o.successor.events)

    s = signal_workflow.handle(OperationContext(now=r.now, state=nxt, history=history), _sig("s1"))
    assert not s.changed and isinstance(s.reply, AckReply) and s.reply.run_id == RUN
    c = request_cancel_workflow.handle(
        OperationContext(now=r.now, state=nxt, history=history),
        RequestCancelWorkflowExecution(workflow_id="w1", request_id="c1"),
    )
    assert not c.changed and isinstance(c.reply, AckReply) and c.reply.run_id == RUN
    assert not nxt.cancel_requested
    u = update_workflow.handle(
        OperationContext(now=r.now, state=nxt, history=history),
        UpdateWorkflowExecution(workflow_id="w1", update_id="u1", name="set"),
    )
    assert not u.changed and isinstance(u.reply, AckReply) and u.reply.run_id == RUN  # read it there
    fresh = signal_workflow.handle(OperationContext(now=r.now, state=nxt, history=history), _sig("s3"))
    assert fresh.changed and isinstance(fresh.reply, AckReply) and fresh.reply.run_id == nxt.run_id


def test_an_update_retried_after_its_record_was_dropped_is_not_admitted_again() -> None:
    r = Run()
    r.complete()
    for i in range(150):  # more than the finished updates the state keeps with their outcome
        r.apply(
            update_workflow.handle, UpdateWorkflowExecution(workflow_id="w1", update_id=f"u{i}", name="set")
        )
        r.complete(cmd.ProtocolMessage(update_id=f"u{i}", kind="reject"))
    assert "u0" not in r.state.updates
    o = update_workflow.handle(
        OperationContext(now=r.now, state=r.state, history=r.history),
        UpdateWorkflowExecution(workflow_id="w1", update_id="u0", name="set"),
    )
    assert not o.changed and isinstance(o.reply, AckReply) and "u0" not in r.state.updates


def test_ids_are_bounded_by_count_and_by_age() -> None:
    r = Run()
    st = r.state
    for i in range(dedup.MAX_IDS + 50):
        dedup.remember(st, dedup.SIGNAL, f"s{i}", now=T0 + timedelta(seconds=i))
    assert dedup.MAX_IDS - dedup.BUCKET_SIZE <= len(st.request_ids) <= dedup.MAX_IDS
    assert dedup.applied_to(st, dedup.SIGNAL, "s0") is None  # the oldest went first
    assert dedup.applied_to(st, dedup.SIGNAL, f"s{dedup.MAX_IDS + 49}") == RUN
    assert all(
        dedup.applied_to(st, dedup.SIGNAL, f"s{i}") == RUN
        for i in range(dedup.BUCKET_SIZE, dedup.MAX_IDS + 50)
    )
    later = T0 + timedelta(seconds=dedup.MAX_IDS + 50) + dedup.MAX_AGE
    dedup.remember(st, dedup.SIGNAL, "late", now=later)
    assert len(st.request_ids) == 1  # everything older than MAX_AGE went
    assert dedup.applied_to(st, dedup.SIGNAL, "late") == RUN
    assert dedup.applied_to(st, dedup.SIGNAL, f"s{dedup.MAX_IDS + 49}") is None


def test_the_ids_survive_the_state_document() -> None:
    r = Run()
    for i in range(300):
        dedup.remember(r.state, dedup.SIGNAL, f"s{i}", now=T0 + timedelta(seconds=i))
    loaded = MutableState.model_validate(json.loads(json.dumps(r.state.model_dump(mode="json"))))
    assert all(dedup.applied_to(loaded, dedup.SIGNAL, f"s{i}") == RUN for i in range(300))
    assert dedup.applied_to(loaded, dedup.CANCEL, "s1") is None  # kinds do not mix


def test_a_state_document_with_the_old_signal_id_list_still_deduplicates() -> None:
    r = Run()
    doc = r.state.model_dump(mode="json")
    del doc["request_ids"]
    doc["signal_request_ids"] = ["old-1", "old-2"]
    loaded = MutableState.model_validate(doc)
    o = signal_workflow.handle(OperationContext(now=r.now, state=loaded, history=r.history), _sig("old-2"))
    assert not o.changed and isinstance(o.reply, AckReply)


def test_the_dedup_ids_cost_a_bounded_state_document() -> None:
    r = Run()
    for i in range(dedup.MAX_IDS * 2):
        dedup.remember(r.state, dedup.SIGNAL, f"{i:08d}-0000-4000-8000-000000000000", now=T0)
    size = len(r.state.model_dump_json())
    assert size < dedup.MAX_IDS * 50, size  # a uuid request id and its quotes: about 42 bytes
