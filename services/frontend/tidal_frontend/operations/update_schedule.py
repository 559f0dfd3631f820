"""Replace a schedule's spec, action, policies and state. Reached by `POST
/namespaces/{ns}/schedules/{id}/update`. With `conflict_token` (from describe) a schedule changed
since is refused with 412 (`conflict`): read, modify, write."""

from __future__ import annotations

from pydantic import Field
from tidal_schema.limits import Text
from tidal_schema.messages import UpdateSchedule
from tidal_server.apikeys import Role

from ..context import FrontendContext
from ._schedules import ScheduleBody, ScheduleRef, checked_action, checked_spec, send
from .policy import Admitted, Policy

__all__ = ["POLICY", "UpdateScheduleRequest", "update_schedule"]

POLICY = Policy(role=Role.WRITER)


class UpdateScheduleRequest(ScheduleBody):
    conflict_token: int | None = Field(default=None, description="the token describe returned")
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
        identity=body.identity,
    )
    await send(ctx, message, retry_hint="describe the schedule and update again")
    return ScheduleRef(schedule_id=schedule_id)
