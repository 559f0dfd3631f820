"""ExternalWorkflowResult, on the requesting run's shard: its signal or cancel request to another
workflow was delivered (ExternalWorkflowExecutionSignaled / ...CancelRequested) or failed."""

from __future__ import annotations

from tidal_schema import events as ev
from tidal_schema.messages import ExternalWorkflowResult

from ..mutation import Mutation, Outcome, unchanged
from ..operation import OperationContext


def handle(ctx: OperationContext, msg: ExternalWorkflowResult) -> Outcome:
    state, history, now = ctx.run, ctx.history, ctx.now
    request = state.external_requests.get(msg.initiated_event_id)
    if not state.is_running or request is None or request.kind != msg.kind:
        return unchanged()
    m = Mutation(state, history, now=now)
    del state.external_requests[msg.initiated_event_id]
    target = dict(
        initiated_event_id=msg.initiated_event_id,
        namespace=request.namespace,
        workflow_id=request.workflow_id,
        run_id=request.run_id,
    )
    attrs: ev.EventAttributes
    if msg.kind == "signal":
        attrs = (
            ev.ExternalWorkflowExecutionSignaled(**target)
            if msg.failed_cause is None
            else ev.SignalExternalWorkflowExecutionFailed(cause=msg.failed_cause, **target)
        )
    else:
        attrs = (
            ev.ExternalWorkflowExecutionCancelRequested(**target)
            if msg.failed_cause is None
            else ev.RequestCancelExternalWorkflowExecutionFailed(cause=msg.failed_cause, **target)
        )
    m.record_external(attrs)
    return m.finish()
