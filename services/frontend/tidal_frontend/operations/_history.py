"""How an operation hands its message to history: to the shard that owns the message's workflow,
within the frontend's request timeout."""

from __future__ import annotations

from tidal_schema.messages import AckReply, HistoryMessage, StartWorkflowReply

from .. import history_client
from ..context import FrontendContext

__all__ = ["send"]


async def send(
    ctx: FrontendContext, message: HistoryMessage, *, retry_hint: str
) -> StartWorkflowReply | AckReply:
    """`retry_hint` tells a client whose answer was lost how to retry safely (in the 503 body)."""
    return await history_client.send(
        ctx.bus,
        namespace=message.namespace,
        workflow_id=message.workflow_id,
        shard_count=ctx.shard_count,
        message=message,
        timeout=ctx.settings.request_timeout_seconds,
        retry_hint=retry_hint,
    )
