"""SignalWorkflowExecution: deduplicated by request id (dedup.py), buffered while a task is
outstanding."""

from __future__ import annotations

from tidal_schema import events as ev
from tidal_schema.messages import AckReply, ErrorCode, ErrorReply, SignalWorkflowExecution

from .. import dedup
from ..mutation import Mutation, Outcome, unchanged
from ..operation import OperationContext


def handle(ctx: OperationContext, msg: SignalWorkflowExecution) -> Outcome:
    state, history, now = ctx.state, ctx.history, ctx.now
    applied = dedup.applied_to(state, dedup.SIGNAL, msg.request_id) if state is not None else None
    if applied is not None and (not msg.run_id or msg.run_id == state.run_id):  # type: ignore[union-attr]
        return unchanged(AckReply(run_id=applied))
    if state is None or not state.is_running or (msg.run_id and msg.run_id != state.run_id):
        return unchanged(
            ErrorReply(code=ErrorCode.NOT_FOUND, message=f"no running workflow {msg.workflow_id!r} to signal")
        )
    m = Mutation(state, history, now=now)
    dedup.remember(state, dedup.SIGNAL, msg.request_id, now=now)
    m.record_external(
        ev.WorkflowExecutionSignaled(
            signal_name=msg.signal_name,
            input=msg.input,
            identity=msg.identity,
            request_id=msg.request_id,
            header=msg.header,
        )
    )
    m.reply = AckReply(run_id=state.run_id)
    return m.finish()
