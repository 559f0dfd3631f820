"""StartChildWorkflowFailed, on the parent's shard: the child's workflow id was taken."""

from __future__ import annotations

from tidal_schema import events as ev
from tidal_schema.messages import StartChildWorkflowFailed

from ..mutation import Mutation, Outcome, unchanged
from ..operation import OperationContext


def handle(ctx: OperationContext, msg: StartChildWorkflowFailed) -> Outcome:
    state, history, now = ctx.run, ctx.history, ctx.now
    child = state.children.get(msg.initiated_event_id)
    if not state.is_running or child is None or child.run_id is not None:
        return unchanged()
    m = Mutation(state, history, now=now)
    del state.children[msg.initiated_event_id]
    m.record_external(
        ev.StartChildWorkflowExecutionFailed(
            namespace=child.namespace,
            workflow_id=child.workflow_id,
            workflow_type=child.workflow_type,
            cause=msg.cause,
            initiated_event_id=msg.initiated_event_id,
        )
    )
    return m.finish()
