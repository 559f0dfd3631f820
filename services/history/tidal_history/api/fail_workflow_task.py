"""FailWorkflowTask: the worker could not run the task (workflow code raised, nondeterminism).
The workflow keeps running; the task is retried with backoff."""

from __future__ import annotations

from tidal_schema import events as ev
from tidal_schema.messages import FailWorkflowTask

from .. import updates
from ..mutation import Mutation, Outcome, unchanged
from ..operation import OperationContext


def handle(ctx: OperationContext, msg: FailWorkflowTask) -> Outcome:
    state, history, now = ctx.run, ctx.history, ctx.now
    wft = state.workflow_task
    if not state.is_running or wft is None or wft.scheduled_event_id != msg.scheduled_event_id:
        return unchanged()
    m = Mutation(state, history, now=now)
    updates.materialize(m)
    wft, started_id = m.end_workflow_task(identity=msg.identity)
    m.add_event(
        ev.WorkflowTaskFailed(
            scheduled_event_id=wft.scheduled_event_id,
            started_event_id=started_id,
            cause=msg.cause,
            failure=msg.failure,
            identity=msg.identity,
        )
    )
    state.sticky_queue = None  # the worker's cached copy is suspect: replay from full history
    state.last_wft_failure, state.last_wft_failure_cause = msg.failure, msg.cause
    m.flush_buffered()
    m.retry_workflow_task_later(wft.attempt + 1)
    return m.finish()
