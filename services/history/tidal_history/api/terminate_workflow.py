"""TerminateWorkflowExecution: closes the run at once, without running workflow code."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from tidal_schema import Failure, HistoryEvent, WorkflowExecutionStatus
from tidal_schema import events as ev
from tidal_schema.messages import AckReply, ErrorCode, ErrorReply, TerminateWorkflowExecution

from ..mutation import Mutation, Outcome, unchanged
from ..state import MutableState


def handle(
    state: MutableState | None,
    history: Sequence[HistoryEvent],
    msg: TerminateWorkflowExecution,
    *,
    now: datetime,
) -> Outcome:
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
