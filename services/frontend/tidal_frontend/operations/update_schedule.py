"""Replace a schedule's spec, action, policies and state (and its own search attributes when
given). Reached by `POST /namespaces/{ns}/schedules/{id}/update`. With `conflict_token` (from
describe) a schedule changed since is refused with 412 (`conflict`): read, modify, write."""

from __future__ import annotations

from pydantic import Field
from tidal_schema.limits import JsonValue, Name, Text
from tidal_schema.messages import UpdateSchedule
from tidal_server.apikeys import Role

from ..context import FrontendContext
from ._schedules import (
    ScheduleBody,
    ScheduleRef,
    checked_action,
    checked_search_attributes,
    checked_spec,
    send,
)
from .policy import Admitted, Policy

__all__ = ["POLICY", "UpdateScheduleRequest", "update_schedule"]

POLICY = Policy(role=Role.WRITER)


class UpdateScheduleRequest(ScheduleBody):
    conflict_token: int | None = Field(default=None, description="the token describe returned")
    search_attributes: dict[Name, JsonValue] | None = Field(
        default=None, description="replace the schedule's own search attributes; null keeps them"
    )
    identity: Text = Field(default="", max_length=1000)


async def update_schedule(
    ctx: FrontendContext, admitted: Admitted, schedule_id: str, body: UpdateScheduleRequest
) -> ScheduleRef:
    namespace = admitted.namespace_for(POLICY)
    message = UpdateSchedule(
        namespace=namespace,
        schedule_id=schedule_id,
        conflict_token=body.conflict_token,
        spec=checked_spec(body.spec),
        action=checked_action(body.action),
        policies=body.policies,
        state=body.state,
        search_attributes=(
            None if body.search_attributes is None else checked_search_attributes(body.search_attributes)
        ),
        identity=body.identity,
    )
    await send(ctx, message, retry_hint="describe the schedule and update again")
    return ScheduleRef(schedule_id=schedule_id)
