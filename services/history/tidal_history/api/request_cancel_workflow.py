"""RequestCancelWorkflowExecution: the workflow code is told (asyncio.CancelledError) and decides
how to end; deduplicated by request id, and recorded once however often it is asked."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from tidal_schema import HistoryEvent
from tidal_schema import events as ev
from tidal_schema.messages import AckReply, ErrorCode, ErrorReply, RequestCancelWorkflowExecution

from ..mutation import Mutation, Outcome, unchanged
from ..state import MutableState


def handle(
    state: MutableState | None,
    history: Sequence[HistoryEvent],
    msg: RequestCancelWorkflowExecution,
    *,
    now: datetime,
) -> Outcome:
    if state is None or not state.is_running or (msg.run_id and msg.run_id != state.run_id):
        return unchanged(
            ErrorReply(code=ErrorCode.NOT_FOUND, message=f"no running workflow {msg.workflow_id!r} to cancel")
        )
    if state.cancel_requested:
        return unchanged(AckReply(run_id=state.run_id))
    m = Mutation(state, history, now=now)
    state.cancel_requested = True
    requested = ev.WorkflowExecutionCancelRequested(
        cause=msg.reason, identity=msg.identity, request_id=msg.request_id
    )
    m.record_external(requested)
    m.reply = AckReply(run_id=state.run_id)
    return m.finish()
