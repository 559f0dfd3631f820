"""SignalExternalWorkflowExecution, on the target's shard: a signal from another workflow. Applied
like a client's signal (deduplicated by request id); the answer goes back to the sender's shard,
in the same transaction when the signal was written, else right after the batch commits."""

from __future__ import annotations

from typing import Literal

from tidal_schema.messages import (
    AckReply,
    ExternalWorkflowResult,
    RequestCancelExternalWorkflowExecution,
    SignalExternalWorkflowExecution,
    SignalWorkflowExecution,
)

from ..mutation import Outcome, to_workflow
from ..operation import OperationContext
from . import signal_workflow


def handle(ctx: OperationContext, msg: SignalExternalWorkflowExecution) -> Outcome:
    signal = SignalWorkflowExecution(
        namespace=msg.namespace,
        workflow_id=msg.workflow_id,
        run_id=msg.run_id,
        signal_name=msg.signal_name,
        input=msg.input,
        request_id=msg.request_id,
        identity=f"workflow:{msg.source.workflow_id}",
        header=msg.header,
    )
    outcome = signal_workflow.handle(ctx, signal)
    return answer_source(outcome, msg, "signal")


def answer_source(
    outcome: Outcome,
    msg: SignalExternalWorkflowExecution | RequestCancelExternalWorkflowExecution,
    kind: Literal["signal", "cancel"],
) -> Outcome:
    """Turn the client-style reply of the applied request into an ExternalWorkflowResult for the
    requesting run's shard (the requester is a workflow, not a waiting caller)."""
    s = msg.source
    answer = ExternalWorkflowResult(
        namespace=s.namespace,
        workflow_id=s.workflow_id,
        run_id=s.run_id,
        initiated_event_id=s.initiated_event_id,
        kind=kind,
        target_namespace=msg.namespace,
        target_workflow_id=msg.workflow_id,
        target_run_id=msg.run_id,
        failed_cause=None if isinstance(outcome.reply, AckReply) else "ExternalWorkflowExecutionNotFound",
    )
    outcome.reply = None
    outcome.outbox.append(to_workflow(s.namespace, s.workflow_id, answer))
    return outcome
