"""POST /api/v1/namespaces/{ns}/activities/{complete,fail,heartbeat,cancel}: async activity
completion. The task token (from `activity.info().task_token`) names the attempt; the message goes
to the owning history shard like a worker's report, and history answers whether it counted
(404 not_found once the attempt completed, timed out, was retried or its run closed)."""

from __future__ import annotations

from pydantic import BaseModel, Field
from tidal_schema import Failure
from tidal_schema.limits import Text
from tidal_schema.messages import (
    ActivityHeartbeatReply,
    CompleteActivityTask,
    FailActivityTask,
    RecordActivityTaskHeartbeat,
    ReportActivityTaskCanceled,
)
from tidal_schema.task_token import ActivityTaskToken, InvalidTaskTokenError

from .. import history_client
from ..context import Ctx
from ..problems import Problem
from .models import NamespacePath, RequestModel, WithInput

_TOKEN = Field(min_length=1, max_length=10_000, description="activity.info().task_token, as ASCII")


class ActivityResult(WithInput):
    """`args`/`input` hold the single result value (or nothing, for None)."""

    task_token: str = _TOKEN
    identity: Text = Field(default="", max_length=1000)


class ActivityDetails(WithInput):
    """`args`/`input` hold the heartbeat or cancellation details."""

    task_token: str = _TOKEN
    identity: Text = Field(default="", max_length=1000)


class ActivityFailure(RequestModel):
    task_token: str = _TOKEN
    failure: Failure
    identity: Text = Field(default="", max_length=1000)


class Accepted(BaseModel):
    workflow_id: str
    run_id: str


class HeartbeatResponse(BaseModel):
    cancel_requested: bool


def _token(namespace: str, raw: str) -> ActivityTaskToken:
    try:
        token = ActivityTaskToken.decode(raw)
    except InvalidTaskTokenError as exc:
        raise Problem("invalid_argument", str(exc)) from None
    if token.namespace != namespace:
        raise Problem(
            "invalid_argument", f"the task token is for namespace {token.namespace!r}, not {namespace!r}"
        )
    return token


def _ref(token: ActivityTaskToken, identity: str) -> dict[str, object]:
    return dict(
        namespace=token.namespace,
        workflow_id=token.workflow_id,
        run_id=token.run_id,
        scheduled_event_id=token.scheduled_event_id,
        attempt=token.attempt,
        identity=identity,
    )


async def _send(ctx: Ctx, token: ActivityTaskToken, message: BaseModel) -> object:
    return await history_client.request(
        ctx.bus,
        namespace=token.namespace,
        workflow_id=token.workflow_id,
        shard_count=ctx.shard_count,
        message=message,
        timeout=ctx.settings.request_timeout_seconds,
        retry_hint="retry: a repeated report for the same attempt answers not_found",
    )


async def complete(ctx: Ctx, namespace: NamespacePath, body: ActivityResult) -> Accepted:
    token = _token(namespace, body.task_token)
    await _send(ctx, token, CompleteActivityTask(result=body.payloads()[:1], **_ref(token, body.identity)))
    return Accepted(workflow_id=token.workflow_id, run_id=token.run_id)


async def fail(ctx: Ctx, namespace: NamespacePath, body: ActivityFailure) -> Accepted:
    token = _token(namespace, body.task_token)
    await _send(ctx, token, FailActivityTask(failure=body.failure, **_ref(token, body.identity)))
    return Accepted(workflow_id=token.workflow_id, run_id=token.run_id)


async def report_cancellation(ctx: Ctx, namespace: NamespacePath, body: ActivityDetails) -> Accepted:
    token = _token(namespace, body.task_token)
    msg = ReportActivityTaskCanceled(details=body.payloads(), **_ref(token, body.identity))
    await _send(ctx, token, msg)
    return Accepted(workflow_id=token.workflow_id, run_id=token.run_id)


async def heartbeat(ctx: Ctx, namespace: NamespacePath, body: ActivityDetails) -> HeartbeatResponse:
    token = _token(namespace, body.task_token)
    msg = RecordActivityTaskHeartbeat(details=body.payloads(), **_ref(token, body.identity))
    reply = await _send(ctx, token, msg)
    if not isinstance(reply, ActivityHeartbeatReply):
        raise Problem("internal", f"history answered a heartbeat with {type(reply).__name__}")
    if reply.activity_gone:
        raise Problem(
            "not_found", "activity not found: it completed, timed out, was retried or its run closed"
        )
    return HeartbeatResponse(cancel_requested=reply.cancel_requested)
