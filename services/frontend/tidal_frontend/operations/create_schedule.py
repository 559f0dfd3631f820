"""Create a schedule. Reached by `POST /namespaces/{ns}/schedules`. An id already taken is 409
(`schedule_already_exists`), unless it is the same create retried with its request id."""

from __future__ import annotations

import uuid

from pydantic import Field
from tidal_schema import Payload
from tidal_schema.limits import Id, JsonValue, Name, RequestId, Text
from tidal_schema.messages import CreateSchedule
from tidal_server.apikeys import Role

from ..context import FrontendContext
from ..problems import Problem
from ._schedules import (
    ScheduleBody,
    ScheduleRef,
    checked_action,
    checked_search_attributes,
    checked_spec,
    send,
)
from .policy import Admitted, Policy

__all__ = ["POLICY", "CreateScheduleRequest", "create_schedule"]

# A schedule starts runs: a deprecated namespace refuses it, and creating one takes a start token.
POLICY = Policy(role=Role.WRITER, starts_runs=True)


class CreateScheduleRequest(ScheduleBody):
    schedule_id: Id
    memo: dict[Name, Payload] = Field(default_factory=dict)
    search_attributes: dict[Name, JsonValue] = Field(
        default_factory=dict,
        description="the schedule's own search attributes (its runs get `action.search_attributes`): "
        "strings, numbers, booleans, ISO-8601 date-times and lists of keyword strings",
    )
    request_id: RequestId | None = Field(default=None, description="makes a retried create safe")
    identity: Text = Field(default="", max_length=1000)


async def create_schedule(
    ctx: FrontendContext, admitted: Admitted, body: CreateScheduleRequest
) -> ScheduleRef:
    namespace = admitted.namespace_for(POLICY)
    message = CreateSchedule(
        namespace=namespace,
        schedule_id=body.schedule_id,
        request_id=body.request_id or str(uuid.uuid4()),
        spec=checked_spec(body.spec),
        action=checked_action(body.action),
        policies=body.policies,
        state=body.state,
        memo=body.memo,
        search_attributes=checked_search_attributes(body.search_attributes),
        identity=body.identity,
    )
    try:
        await send(ctx, message, retry_hint="retry with the same request_id")
    except Problem as exc:
        if exc.code == "already_started":
            raise Problem("schedule_already_exists", exc.detail, schedule_id=body.schedule_id) from None
        raise
    return ScheduleRef(schedule_id=body.schedule_id)
