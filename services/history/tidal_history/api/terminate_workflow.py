"""TerminateWorkflowExecution: closes the run at once, without running workflow code."""

from __future__ import annotations

from tidal_schema import Failure, WorkflowExecutionStatus
from tidal_schema import events as ev
from tidal_schema.messages import AckReply, ErrorCode, ErrorReply, TerminateWorkflowExecution

from ..mutation import Mutation, Outcome, unchanged
from ..operation import OperationContext


def handle(ctx: OperationContext, msg: TerminateWorkflowExecution) -> Outcome:
    state, history, now = ctx.state, ctx.history, ctx.now
    if state is None or not state.is_running or (msg.run_id and msg.run_id != state.run_id):
        return unchanged(
            ErrorReply(
                code=ErrorCode.NOT_FOUND, message=f"no running workflow {msg.workflow_id!r} to terminate"
            )
        )
    m = Mutation(state, history, now=now)
    m.close(
        WorkflowExecutionStatus.TERMINATED,
        ev.WorkflowExecutionTerminated(reason=msg.reason, identity=msg.identity, details=msg.details),
        failure=Failure(message=msg.reason or "terminated", type="TerminatedError", kind="terminated"),
    )
    m.reply = AckReply(run_id=state.run_id)
    return m.finish()
