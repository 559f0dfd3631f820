"""The types `Client.list_schedules` yields (temporalio.client's names and fields): a summary
of each schedule, as the frontend's list answers it."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from tidal_schema.schedules import ScheduleSpec as SchemaScheduleSpec

from ._schedule_spec import ScheduleSpec
from ._schedules import _MISSING, ScheduleActionResult, decode_memo, memo_value_of
from ._search_attributes import TypedSearchAttributes
from .converter import DataConverter

__all__ = [
    "ScheduleListAction",
    "ScheduleListActionStartWorkflow",
    "ScheduleListDescription",
    "ScheduleListInfo",
    "ScheduleListSchedule",
    "ScheduleListState",
]


class ScheduleListAction:
    """Base of a listed schedule's action."""


@dataclass
class ScheduleListActionStartWorkflow(ScheduleListAction):
    workflow: str


@dataclass
class ScheduleListState:
    note: str | None
    paused: bool


@dataclass
class ScheduleListSchedule:
    action: ScheduleListAction
    spec: ScheduleSpec
    state: ScheduleListState


@dataclass
class ScheduleListInfo:
    recent_actions: Sequence[ScheduleActionResult]
    next_action_times: Sequence[datetime]


@dataclass
class ScheduleListDescription:
    id: str
    schedule: ScheduleListSchedule | None
    info: ScheduleListInfo | None
    # The schedule's own search attributes, typed and as JSON (temporalio's deprecated form).
    typed_search_attributes: TypedSearchAttributes
    search_attributes: Mapping[str, Any]
    data_converter: DataConverter
    raw_entry: Mapping[str, Any]

    async def memo(self) -> Mapping[str, Any]:
        return await decode_memo(self.raw_entry.get("memo"), self.data_converter)

    async def memo_value(self, key: str, default: Any = _MISSING, *, type_hint: type | None = None) -> Any:
        return await memo_value_of(self.raw_entry.get("memo"), self.data_converter, key, default, type_hint)

    @staticmethod
    def from_wire(wire: Mapping[str, Any], converter: DataConverter) -> ScheduleListDescription:
        return ScheduleListDescription(
            id=wire["schedule_id"],
            schedule=ScheduleListSchedule(
                action=ScheduleListActionStartWorkflow(workflow=wire["workflow_type"]),
                spec=ScheduleSpec.from_wire(SchemaScheduleSpec.model_validate(wire["spec"])),
                state=ScheduleListState(note=wire.get("note") or None, paused=bool(wire.get("paused"))),
            ),
            info=ScheduleListInfo(
                recent_actions=[ScheduleActionResult.from_wire(a) for a in wire.get("recent_actions") or ()],
                next_action_times=[datetime.fromisoformat(t) for t in wire.get("next_action_times") or ()],
            ),
            typed_search_attributes=TypedSearchAttributes.from_json(wire.get("search_attributes") or {}),
            search_attributes=dict(wire.get("search_attributes") or {}),
            data_converter=converter,
            raw_entry=dict(wire),
        )
