"""SignalWorkflowExecution: deduplicated by request id, buffered while a task is outstanding."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from tidal_schema import HistoryEvent
from tidal_schema import events as ev
from tidal_schema.messages import AckReply, ErrorCode, ErrorReply, SignalWorkflowExecution

from ..mutation import Mutation, Outcome, unchanged
from ..state import MutableState

_REMEMBERED_SIGNALS = 100


def handle(
    state: MutableState | None,
    history: Sequence[HistoryEvent],
    msg: SignalWorkflowExecution,
    *,
    now: datetime,
) -> Outcome:
    if state is None or not state.is_running or (msg.run_id and msg.run_id != state.run_id):
        return unchanged(
            ErrorReply(code=ErrorCode.NOT_FOUND, message=f"no running workflow {msg.workflow_id!r} to signal")
        )
    if msg.request_id in state.signal_request_ids:
        return unchanged(AckReply(run_id=state.run_id))
    m = Mutation(state, history, now=now)
    state.signal_request_ids = [*state.signal_request_ids[-(_REMEMBERED_SIGNALS - 1) :], msg.request_id]
    m.record_external(
        ev.WorkflowExecutionSignaled(
            signal_name=msg.signal_name, input=msg.input, identity=msg.identity, request_id=msg.request_id
        )
    )
    m.reply = AckReply(run_id=state.run_id)
    return m.finish()
