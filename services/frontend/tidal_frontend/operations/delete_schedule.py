"""Delete a schedule; the runs it started keep running. Reached by `DELETE
/namespaces/{ns}/schedules/{id}`; a second delete is 404."""

from __future__ import annotations

from tidal_schema.messages import DeleteSchedule
from tidal_server.apikeys import Role

from ..context import FrontendContext
from ._schedules import ScheduleRef, send
from .policy import Admitted, Policy

__all__ = ["POLICY", "delete_schedule"]

POLICY = Policy(role=Role.WRITER)


async def delete_schedule(ctx: FrontendContext, admitted: Admitted, schedule_id: str) -> ScheduleRef:
    namespace = admitted.namespace_for(POLICY)
    await send(
        ctx, DeleteSchedule(namespace=namespace, schedule_id=schedule_id), retry_hint="retrying is safe"
    )
    return ScheduleRef(schedule_id=schedule_id)
