"""Take the actions a schedule's spec would have taken in past (or future) time ranges. Reached by
`POST /namespaces/{ns}/schedules/{id}/backfill`. Bounded: at most 100 ranges and 1,000 actions in
one request (more is a 400 naming the count)."""

from __future__ import annotations

import uuid

from pydantic import Field
from tidal_schema.limits import RequestId, Text
from tidal_schema.messages import MAX_BACKFILL_RANGES, BackfillSchedule, ScheduleBackfillRange
from tidal_server.apikeys import Role

from ..context import FrontendContext
from ..problems import Problem
from ._schedules import ScheduleRef, send
from .models import RequestModel
from .policy import Admitted, Policy

__all__ = ["POLICY", "BackfillScheduleRequest", "backfill_schedule"]

POLICY = Policy(role=Role.WRITER, starts_runs=True)


class BackfillScheduleRequest(RequestModel):
    backfills: list[ScheduleBackfillRange] = Field(min_length=1, max_length=MAX_BACKFILL_RANGES)
    request_id: RequestId | None = None
    identity: Text = Field(default="", max_length=1000)


async def backfill_schedule(
    ctx: FrontendContext, admitted: Admitted, schedule_id: str, body: BackfillScheduleRequest
) -> ScheduleRef:
    namespace = admitted.namespace_for(POLICY)
    for i, r in enumerate(body.backfills):
        if r.end_at < r.start_at:
            raise Problem(
                "invalid_argument",
                f"backfills.{i}.end_at is before its start_at",
                field=f"backfills.{i}.end_at",
            )
    message = BackfillSchedule(
        namespace=namespace,
        schedule_id=schedule_id,
        request_id=body.request_id or str(uuid.uuid4()),
        backfills=tuple(body.backfills),
        identity=body.identity,
    )
    await send(ctx, message, retry_hint="retry with the same request_id")
    return ScheduleRef(schedule_id=schedule_id)
