"""RequestCancelExternalWorkflowExecution, on the target's shard: a cancel request from another
workflow (a parent cancelling its child, or an external handle). Applied like a client's cancel;
the answer goes back to the requester's shard (see signal_external_workflow)."""

from __future__ import annotations

from tidal_schema.messages import RequestCancelExternalWorkflowExecution, RequestCancelWorkflowExecution

from ..mutation import Outcome
from ..operation import OperationContext
from . import request_cancel_workflow
from .signal_external_workflow import answer_source


def handle(ctx: OperationContext, msg: RequestCancelExternalWorkflowExecution) -> Outcome:
    cancel = RequestCancelWorkflowExecution(
        namespace=msg.namespace,
        workflow_id=msg.workflow_id,
        run_id=msg.run_id,
        request_id=msg.request_id,
        reason=msg.reason,
        identity=f"workflow:{msg.source.workflow_id}",
    )
    outcome = request_cancel_workflow.handle(ctx, cancel)
    return answer_source(outcome, msg, "cancel")
