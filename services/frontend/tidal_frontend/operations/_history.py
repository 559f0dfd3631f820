"""How an operation hands its message to history: to the shard that owns the message's workflow,
within the frontend's request timeout."""

from __future__ import annotations

from tidal_schema.messages import AckReply, HistoryMessage, StartWorkflowReply

from .. import history_client
from ..context import FrontendContext
from ..problems import Problem

__all__ = ["send"]


async def send(
    ctx: FrontendContext, message: HistoryMessage, *, retry_hint: str
) -> StartWorkflowReply | AckReply:
    """`retry_hint` tells a client whose answer was lost how to retry safely (in the 503 body).
    An `already_started` problem names the run in the way (`run_id`) and the first run of its
    chain (`first_run_id`, temporalio's `WorkflowAlreadyStartedError.first_run_id`)."""
    try:
        return await history_client.send(
            ctx.bus,
            namespace=message.namespace,
            workflow_id=message.workflow_id,
            shard_count=ctx.shard_count,
            message=message,
            timeout=ctx.settings.request_timeout_seconds,
            retry_hint=retry_hint,
        )
    except Problem as problem:
        run_id = problem.extra.get("run_id")
        if problem.code == "already_started" and isinstance(run_id, str):
            problem.extra["first_run_id"] = await _first_run_id(ctx, message, run_id)
        raise


async def _first_run_id(ctx: FrontendContext, message: HistoryMessage, run_id: str) -> str:
    """From the run's WorkflowExecutionStarted; the run itself when it is a chain's first (or its
    event is gone: purged by retention between the refusal and this read)."""
    started = await ctx.store.event(message.namespace, message.workflow_id, run_id, 1)
    first = (started or {}).get("attributes", {}).get("first_execution_run_id")
    return first if isinstance(first, str) and first else run_id
