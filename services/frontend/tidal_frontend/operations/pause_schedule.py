"""Pause or unpause a schedule with a note. Reached by `POST
/namespaces/{ns}/schedules/{id}/pause` and `.../unpause`; both are safe to retry."""

from __future__ import annotations

from pydantic import Field
from tidal_schema.limits import Text
from tidal_schema.messages import PauseSchedule
from tidal_server.apikeys import Role

from ..context import FrontendContext
from ._schedules import ScheduleRef, send
from .models import RequestModel
from .policy import Admitted, Policy

__all__ = ["POLICY", "PauseScheduleRequest", "pause_schedule"]

POLICY = Policy(role=Role.WRITER)


class PauseScheduleRequest(RequestModel):
    note: Text = ""
    identity: Text = Field(default="", max_length=1000)


async def pause_schedule(
    ctx: FrontendContext,
    admitted: Admitted,
    schedule_id: str,
    body: PauseScheduleRequest,
    paused: bool = True,
) -> ScheduleRef:
    namespace = admitted.namespace_for(POLICY)
    message = PauseSchedule(
        namespace=namespace, schedule_id=schedule_id, paused=paused, note=body.note, identity=body.identity
    )
    await send(ctx, message, retry_hint="retrying is safe")
    return ScheduleRef(schedule_id=schedule_id)
