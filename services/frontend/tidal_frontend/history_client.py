"""Writes go to the owning history shard over the bus, as request/reply.

The frontend decides the shard (`shard_for(namespace, workflow_id, shard_count)`), publishes the
message to `names.HISTORY_EXCHANGE` with the shard's routing key and waits for history's Reply
(sent to our reply-to with the same correlation id) up to `request_timeout_seconds`.
"""

from __future__ import annotations

import uuid

from pydantic import BaseModel, ValidationError
from tidal_schema import names, shard_for
from tidal_schema.messages import (
    REPLY,
    AckReply,
    ActivityHeartbeatReply,
    ErrorReply,
    Reply,
    StartWorkflowReply,
)
from tidal_server.bus import (
    Bus,
    BusError,
    OutMessage,
    RequestTimeout,
    UnroutableError,
    decoded_as,
    union_members,
)

from .problems import Problem

# How history's ErrorReply codes surface to HTTP clients (identical spelling, see problems.CODES).
_ERROR_CODES = {
    "already_started",
    "not_found",
    "invalid_argument",
    "unavailable",
    "internal",
    "conflict",
    "resource_exhausted",
}

# What a reply may hand over instead of its bytes (tidal_server.bus.handover).
_REPLY_KINDS = union_members(Reply)


async def send(
    bus: Bus,
    *,
    namespace: str,
    workflow_id: str,
    shard_count: int,
    message: BaseModel,
    timeout: float,
    retry_hint: str,
) -> StartWorkflowReply | AckReply:
    """Send `message` to the workflow's shard; returns the success reply or raises `Problem`.
    (Workflow operations; `request` also returns activity heartbeat replies.)"""
    reply = await request(
        bus,
        namespace=namespace,
        workflow_id=workflow_id,
        shard_count=shard_count,
        message=message,
        timeout=timeout,
        retry_hint=retry_hint,
    )
    if isinstance(reply, ActivityHeartbeatReply):
        raise Problem("internal", "history answered a workflow operation with a heartbeat reply")
    return reply


async def request(
    bus: Bus,
    *,
    namespace: str,
    workflow_id: str,
    shard_count: int,
    message: BaseModel,
    timeout: float,
    retry_hint: str,
) -> StartWorkflowReply | AckReply | ActivityHeartbeatReply:
    """Send `message` to the workflow's shard; returns the success reply or raises `Problem`.

    `retry_hint` completes the 503 detail when the outcome is unknown (the message may still
    be applied after we gave up), e.g. "retry with the same request_id".
    """
    shard = shard_for(namespace, workflow_id, shard_count)
    out = OutMessage(
        exchange=names.HISTORY_EXCHANGE,
        routing_key=names.shard_routing_key(shard),
        body=message.model_dump_json().encode(),
        correlation_id=uuid.uuid4().hex,
        # The in-memory bus hands the validated message to history instead of its bytes
        # (tidal_server.bus.handover: frozen schema models only; AmqpBus ignores it).
        decoded=message,
    )
    try:
        delivery = await bus.request(out, timeout=timeout)
    except RequestTimeout:
        raise Problem(
            "unavailable",
            f"history did not answer in {timeout:g}s; the operation may still happen: {retry_hint}",
            shard=shard,
        ) from None
    except UnroutableError:
        # Nothing is bound for the shard yet: history has not declared its queues (not started).
        raise Problem(
            "unavailable", f"history shard {shard} is not available; retry later", shard=shard
        ) from None
    except BusError as exc:
        raise Problem(
            "unavailable",
            f"the message bus failed ({type(exc).__name__}); the operation may "
            f"or may not have happened: {retry_hint}",
            shard=shard,
        ) from None
    try:
        reply: Reply = decoded_as(delivery, _REPLY_KINDS) or REPLY.validate_json(delivery.body)
    except ValidationError:
        raise Problem("internal", "history sent a reply the frontend does not understand") from None
    if isinstance(reply, ErrorReply):
        code = reply.code.value if reply.code.value in _ERROR_CODES else "internal"
        extra = {"run_id": reply.run_id} if reply.run_id else {}
        raise Problem(code, reply.message, **extra)
    return reply
