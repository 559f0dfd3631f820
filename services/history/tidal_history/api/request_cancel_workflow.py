"""RequestCancelWorkflowExecution: the workflow code is told (asyncio.CancelledError) and decides
how to end; deduplicated by request id, and recorded once however often it is asked."""

from __future__ import annotations

from tidal_schema import events as ev
from tidal_schema.messages import AckReply, ErrorCode, ErrorReply, RequestCancelWorkflowExecution

from .. import dedup
from ..mutation import Mutation, Outcome, unchanged
from ..operation import OperationContext


def handle(ctx: OperationContext, msg: RequestCancelWorkflowExecution) -> Outcome:
    state, history, now = ctx.state, ctx.history, ctx.now
    applied = dedup.applied_to(state, dedup.CANCEL, msg.request_id) if state is not None else None
    if applied is not None and (not msg.run_id or msg.run_id == state.run_id):  # type: ignore[union-attr]
        return unchanged(AckReply(run_id=applied))  # the original answer, also after the close
    if state is None or not state.is_running or (msg.run_id and msg.run_id != state.run_id):
        return unchanged(
            ErrorReply(code=ErrorCode.NOT_FOUND, message=f"no running workflow {msg.workflow_id!r} to cancel")
        )
    m = Mutation(state, history, now=now)
    # Remembered even when the run was already asked (acked, nothing recorded): its retry after
    # the close must hear the same ack.
    dedup.remember(state, dedup.CANCEL, msg.request_id, now=now)
    m.reply = AckReply(run_id=state.run_id)
    if state.cancel_requested:
        return m.finish()
    state.cancel_requested = True
    requested = ev.WorkflowExecutionCancelRequested(
        cause=msg.reason, identity=msg.identity, request_id=msg.request_id
    )
    m.record_external(requested)
    return m.finish()
