"""Pieces the schedule operations share: the request parts every write names, the spec check
(a 400 naming the bad field), and the send to the schedule's history shard."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, Field
from tidal_schema.limits import JsonValue, Name
from tidal_schema.messages import AckReply, HistoryMessage
from tidal_schema.schedule_document import ScheduleAction, SchedulePolicies, ScheduleStateInput
from tidal_schema.schedule_times import ScheduleSpecError, check_spec
from tidal_server.visibility import invalid_search_attributes

from ..context import FrontendContext
from ..problems import Problem
from . import _history
from .models import RequestModel

__all__ = [
    "ScheduleBody",
    "ScheduleRef",
    "checked_action",
    "checked_search_attributes",
    "checked_spec",
    "send",
]


class ScheduleBody(RequestModel):
    """What a schedule is: when (spec), what (action), how (policies), and its state."""

    spec: dict[Name, JsonValue] = Field(
        description="a ScheduleSpec: calendars, intervals, cron_expressions, skip, start_at, end_at, "
        "jitter, time_zone_name (docs/schedules.md)"
    )
    action: ScheduleAction
    policies: SchedulePolicies = SchedulePolicies()
    state: ScheduleStateInput = ScheduleStateInput()


class ScheduleRef(BaseModel):
    schedule_id: str


def checked_action(action: ScheduleAction) -> ScheduleAction:
    """Search attributes a start would refuse are refused here, before any tick could fail."""
    bad = invalid_search_attributes(action.search_attributes, allow_none=False)
    if bad is not None:
        raise Problem("invalid_argument", bad, field="action.search_attributes")
    return action


def checked_search_attributes(values: dict[str, Any]) -> dict[str, Any]:
    """The schedule's own attributes: what a start takes, and keyword lists (they stay in the
    schedule's document; list filters read them there)."""
    bad = invalid_search_attributes(values, allow_none=False, keyword_lists=True)
    if bad is not None:
        raise Problem("invalid_argument", bad, field="search_attributes")
    return values


def checked_spec(spec: dict[str, Any]) -> dict[str, Any]:
    try:
        check_spec(spec)
    except ScheduleSpecError as exc:
        raise Problem("invalid_argument", str(exc), field=exc.field) from None
    return spec


async def send(ctx: FrontendContext, message: HistoryMessage, *, retry_hint: str) -> AckReply:
    reply = await _history.send(ctx, message, retry_hint=retry_hint)
    if not isinstance(reply, AckReply):
        raise Problem("internal", f"history answered a schedule operation with {reply.type}")
    return reply
