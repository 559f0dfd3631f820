"""Take a schedule's action now (even while paused), optionally with another overlap policy.
Reached by `POST /namespaces/{ns}/schedules/{id}/trigger`; retried with its request id, it acts
once."""

from __future__ import annotations

import uuid

from pydantic import Field
from tidal_schema.limits import RequestId, Text
from tidal_schema.messages import TriggerSchedule
from tidal_schema.schedule_document import ScheduleOverlapPolicy
from tidal_server.apikeys import Role

from ..context import FrontendContext
from ._schedules import ScheduleRef, send
from .models import RequestModel
from .policy import Admitted, Policy

__all__ = ["POLICY", "TriggerScheduleRequest", "trigger_schedule"]

POLICY = Policy(role=Role.WRITER, starts_runs=True)


class TriggerScheduleRequest(RequestModel):
    overlap: ScheduleOverlapPolicy | None = Field(default=None, description="default: the schedule's")
    request_id: RequestId | None = None
    identity: Text = Field(default="", max_length=1000)


async def trigger_schedule(
    ctx: FrontendContext, admitted: Admitted, schedule_id: str, body: TriggerScheduleRequest
) -> ScheduleRef:
    namespace = admitted.namespace_for(POLICY)
    message = TriggerSchedule(
        namespace=namespace,
        schedule_id=schedule_id,
        request_id=body.request_id or str(uuid.uuid4()),
        overlap=body.overlap,
        identity=body.identity,
    )
    await send(ctx, message, retry_hint="retry with the same request_id")
    return ScheduleRef(schedule_id=schedule_id)
