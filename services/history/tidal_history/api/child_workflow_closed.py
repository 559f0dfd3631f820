"""ChildWorkflowClosed, on the parent's shard: record the child's outcome event once. A close that
overtook its ChildWorkflowStarted (possible after a redelivery) records the start first."""

from __future__ import annotations

from tidal_schema import WorkflowExecutionStatus
from tidal_schema import events as ev
from tidal_schema.messages import ChildWorkflowClosed

from ..mutation import Mutation, Outcome, unchanged
from ..operation import OperationContext

S = WorkflowExecutionStatus


def handle(ctx: OperationContext, msg: ChildWorkflowClosed) -> Outcome:
    state, history, now = ctx.run, ctx.history, ctx.now
    child = state.children.get(msg.initiated_event_id)
    if not state.is_running or child is None:
        return unchanged()
    m = Mutation(state, history, now=now)
    if child.run_id is None:
        child.run_id = msg.child_run_id
        started = ev.ChildWorkflowExecutionStarted(
            workflow_id=msg.child_workflow_id,
            run_id=msg.child_run_id,
            workflow_type=msg.workflow_type,
            initiated_event_id=msg.initiated_event_id,
        )
        # Written (or buffered) right before the outcome, with no workflow task in between.
        if state.workflow_task is None:
            child.started_event_id = m.add_event(started)
        else:
            state.buffered_events.append(started.model_dump(mode="json"))
    del state.children[msg.initiated_event_id]
    m.record_external(_event(msg, child.started_event_id))
    return m.finish()


def _event(msg: ChildWorkflowClosed, started_event_id: int) -> ev.EventAttributes:
    ids = dict(
        workflow_id=msg.child_workflow_id,
        run_id=msg.child_run_id,
        initiated_event_id=msg.initiated_event_id,
        started_event_id=started_event_id,
    )
    if msg.status is S.COMPLETED:
        return ev.ChildWorkflowExecutionCompleted(result=msg.result, **ids)
    if msg.status is S.CANCELED:
        return ev.ChildWorkflowExecutionCanceled(**ids)
    if msg.status is S.TERMINATED:
        return ev.ChildWorkflowExecutionTerminated(**ids)
    if msg.status is S.TIMED_OUT:
        return ev.ChildWorkflowExecutionTimedOut(**ids)
    from tidal_schema import Failure

    failure = msg.failure or Failure(message=f"child workflow {msg.status.value.lower()}")
    return ev.ChildWorkflowExecutionFailed(failure=failure, **ids)
