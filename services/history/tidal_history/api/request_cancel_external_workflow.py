"""RequestCancelExternalWorkflowExecution, on the target's shard: a cancel request from another
workflow (a parent cancelling its child, or an external handle). Applied like a client's cancel;
the answer goes back to the requester's shard (see signal_external_workflow)."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from tidal_schema import HistoryEvent
from tidal_schema.messages import (
    AckReply,
    ExternalWorkflowResult,
    RequestCancelExternalWorkflowExecution,
    RequestCancelWorkflowExecution,
)

from ..mutation import Outcome, to_workflow
from ..state import MutableState
from . import request_cancel_workflow


def handle(
    state: MutableState | None,
    history: Sequence[HistoryEvent],
    msg: RequestCancelExternalWorkflowExecution,
    *,
    now: datetime,
) -> Outcome:
    cancel = RequestCancelWorkflowExecution(
        namespace=msg.namespace,
        workflow_id=msg.workflow_id,
        run_id=msg.run_id,
        request_id=msg.request_id,
        reason=msg.reason,
        identity=f"workflow:{msg.source.workflow_id}",
    )
    outcome = request_cancel_workflow.handle(state, history, cancel, now=now)
    s = msg.source
    answer = ExternalWorkflowResult(
        namespace=s.namespace,
        workflow_id=s.workflow_id,
        run_id=s.run_id,
        initiated_event_id=s.initiated_event_id,
        kind="cancel",
        target_namespace=msg.namespace,
        target_workflow_id=msg.workflow_id,
        target_run_id=msg.run_id,
        failed_cause=None if isinstance(outcome.reply, AckReply) else "ExternalWorkflowExecutionNotFound",
    )
    outcome.reply = None
    outcome.outbox.append(to_workflow(s.namespace, s.workflow_id, answer))
    return outcome
