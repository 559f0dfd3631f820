"""ChildWorkflowStarted, on the parent's shard: record ChildWorkflowExecutionStarted once."""

from __future__ import annotations

from tidal_schema import events as ev
from tidal_schema.messages import ChildWorkflowStarted

from .. import relations
from ..mutation import Mutation, Outcome, unchanged
from ..operation import OperationContext


def handle(ctx: OperationContext, msg: ChildWorkflowStarted) -> Outcome:
    state, history, now = ctx.run, ctx.history, ctx.now
    child = state.children.get(msg.initiated_event_id)
    if not state.is_running or child is None or child.run_id is not None:
        return unchanged()  # a duplicate, or the parent closed meanwhile
    m = Mutation(state, history, now=now)
    child.run_id = msg.child_run_id
    relations.record_child_started(
        m,
        child,
        ev.ChildWorkflowExecutionStarted(
            workflow_id=msg.child_workflow_id,
            run_id=msg.child_run_id,
            workflow_type=msg.workflow_type,
            initiated_event_id=msg.initiated_event_id,
        ),
    )
    return m.finish()
