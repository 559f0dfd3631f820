"""The schedule types of `tidal.client`, with temporalio.client's names and fields (issue 12):
what a schedule is (`Schedule`: action, spec, policy, state), what describe and list answer, and
how they travel as the HTTP API's JSON (`to_wire` / `from_wire` here, the spec's in
`_schedule_spec.py`). See docs/schedules.md."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from enum import IntEnum
from typing import Any

from pydantic import TypeAdapter
from tidal_schema import Payload
from tidal_schema.schedules import ScheduleSpec as SchemaScheduleSpec

from ._schedule_action import ScheduleAction, ScheduleActionStartWorkflow, duration_of
from ._schedule_spec import ScheduleSpec
from ._search_attributes import TypedSearchAttributes
from .converter import DataConverter
from .exceptions import TidalError

__all__ = [
    "Schedule",
    "ScheduleAction",
    "ScheduleActionExecution",
    "ScheduleActionExecutionStartWorkflow",
    "ScheduleActionResult",
    "ScheduleActionStartWorkflow",
    "ScheduleAlreadyRunningError",
    "ScheduleBackfill",
    "ScheduleDescription",
    "ScheduleInfo",
    "ScheduleOverlapPolicy",
    "SchedulePolicy",
    "ScheduleState",
    "ScheduleUpdate",
    "ScheduleUpdateInput",
    "decode_memo",
    "memo_value_of",
]

_MISSING: Any = object()
_TIMEDELTA: TypeAdapter[timedelta] = TypeAdapter(timedelta)


class ScheduleAlreadyRunningError(TidalError):
    """`create_schedule` with an id a schedule already has (temporalio's name)."""

    def __init__(self) -> None:
        super().__init__("Schedule already running")


class ScheduleOverlapPolicy(IntEnum):
    """What an action does while a run the schedule started still runs (temporalio's values)."""

    SKIP = 1
    BUFFER_ONE = 2
    BUFFER_ALL = 3
    CANCEL_OTHER = 4
    TERMINATE_OTHER = 5
    ALLOW_ALL = 6

    def to_wire(self) -> str:
        return self.name.lower()

    @staticmethod
    def from_wire(value: str) -> ScheduleOverlapPolicy:
        return ScheduleOverlapPolicy[value.upper()]


@dataclass
class SchedulePolicy:
    overlap: ScheduleOverlapPolicy = ScheduleOverlapPolicy.SKIP
    catchup_window: timedelta | None = None
    """None: the server's default (one year, as Temporal)."""
    pause_on_failure: bool = False

    def to_wire(self) -> dict[str, Any]:
        wire: dict[str, Any] = {"overlap": self.overlap.to_wire(), "pause_on_failure": self.pause_on_failure}
        if self.catchup_window is not None:
            wire["catchup_window"] = self.catchup_window.total_seconds()
        return wire

    @staticmethod
    def from_wire(wire: Mapping[str, Any]) -> SchedulePolicy:
        return SchedulePolicy(
            overlap=ScheduleOverlapPolicy.from_wire(wire.get("overlap", "skip")),
            catchup_window=duration_of(wire.get("catchup_window")),
            pause_on_failure=bool(wire.get("pause_on_failure")),
        )


@dataclass
class ScheduleState:
    note: str | None = None
    paused: bool = False
    limited_actions: bool = False
    remaining_actions: int = 0

    def to_wire(self) -> dict[str, Any]:
        return {
            "note": self.note or "",
            "paused": self.paused,
            "limited_actions": self.limited_actions,
            "remaining_actions": self.remaining_actions,
        }

    @staticmethod
    def from_wire(wire: Mapping[str, Any]) -> ScheduleState:
        return ScheduleState(
            note=wire.get("note") or None,
            paused=bool(wire.get("paused")),
            limited_actions=bool(wire.get("limited_actions")),
            remaining_actions=int(wire.get("remaining_actions") or 0),
        )


@dataclass
class Schedule:
    action: ScheduleAction
    spec: ScheduleSpec
    policy: SchedulePolicy = field(default_factory=SchedulePolicy)
    state: ScheduleState = field(default_factory=ScheduleState)

    async def to_wire(self, converter: DataConverter) -> dict[str, Any]:
        if not isinstance(self.action, ScheduleActionStartWorkflow):
            raise TypeError("a schedule's action must be a ScheduleActionStartWorkflow")
        return {
            "spec": self.spec.to_wire().model_dump(mode="json", exclude_defaults=True),
            "action": await self.action.to_wire(converter),
            "policies": self.policy.to_wire(),
            "state": self.state.to_wire(),
        }


@dataclass(frozen=True)
class ScheduleBackfill:
    start_at: datetime
    end_at: datetime
    overlap: ScheduleOverlapPolicy | None = None

    def to_wire(self) -> dict[str, Any]:
        return {
            "start_at": self.start_at.isoformat(),
            "end_at": self.end_at.isoformat(),
            "overlap": self.overlap.to_wire() if self.overlap is not None else None,
        }


class ScheduleActionExecution:
    """Base of what an action did."""


@dataclass
class ScheduleActionExecutionStartWorkflow(ScheduleActionExecution):
    workflow_id: str
    first_execution_run_id: str


@dataclass
class ScheduleActionResult:
    scheduled_at: datetime
    started_at: datetime
    action: ScheduleActionExecution

    @staticmethod
    def from_wire(wire: Mapping[str, Any]) -> ScheduleActionResult:
        return ScheduleActionResult(
            scheduled_at=datetime.fromisoformat(wire["scheduled_at"]),
            started_at=datetime.fromisoformat(wire["taken_at"]),
            action=ScheduleActionExecutionStartWorkflow(
                workflow_id=wire["workflow_id"], first_execution_run_id=wire.get("run_id") or ""
            ),
        )


@dataclass
class ScheduleInfo:
    num_actions: int
    num_actions_missed_catchup_window: int
    num_actions_skipped_overlap: int
    running_actions: Sequence[ScheduleActionExecution]
    recent_actions: Sequence[ScheduleActionResult]
    next_action_times: Sequence[datetime]
    created_at: datetime
    last_updated_at: datetime | None


@dataclass
class ScheduleDescription:
    """What `ScheduleHandle.describe` answers. `raw_description` is the HTTP API's JSON. The
    search attributes are the schedule's own (its runs' are the action's)."""

    id: str
    schedule: Schedule
    info: ScheduleInfo
    typed_search_attributes: TypedSearchAttributes
    # Name -> JSON value (temporalio's deprecated untyped form).
    search_attributes: Mapping[str, Any]
    data_converter: DataConverter
    raw_description: Mapping[str, Any]

    async def memo(self) -> Mapping[str, Any]:
        return await decode_memo(self.raw_description.get("memo"), self.data_converter)

    async def memo_value(self, key: str, default: Any = _MISSING, *, type_hint: type | None = None) -> Any:
        return await memo_value_of(
            self.raw_description.get("memo"), self.data_converter, key, default, type_hint
        )

    @staticmethod
    async def from_wire(wire: Mapping[str, Any], converter: DataConverter) -> ScheduleDescription:
        info = wire["info"]
        return ScheduleDescription(
            id=wire["schedule_id"],
            schedule=Schedule(
                action=await ScheduleActionStartWorkflow.from_wire(wire["action"], converter),
                spec=ScheduleSpec.from_wire(SchemaScheduleSpec.model_validate(wire["spec"])),
                policy=SchedulePolicy.from_wire(wire["policies"]),
                state=ScheduleState.from_wire(wire["state"]),
            ),
            info=ScheduleInfo(
                num_actions=info["num_actions"],
                num_actions_missed_catchup_window=info["num_actions_missed_catchup_window"],
                num_actions_skipped_overlap=info["num_actions_skipped_overlap"],
                running_actions=[
                    ScheduleActionExecutionStartWorkflow(
                        workflow_id=r["workflow_id"], first_execution_run_id=r.get("run_id") or ""
                    )
                    for r in info["running_workflows"]
                ],
                recent_actions=[ScheduleActionResult.from_wire(a) for a in info["recent_actions"]],
                next_action_times=[datetime.fromisoformat(t) for t in info["next_action_times"]],
                created_at=datetime.fromisoformat(info["created_at"]),
                last_updated_at=(
                    datetime.fromisoformat(info["last_updated_at"]) if info.get("last_updated_at") else None
                ),
            ),
            typed_search_attributes=TypedSearchAttributes.from_json(wire.get("search_attributes") or {}),
            search_attributes=dict(wire.get("search_attributes") or {}),
            data_converter=converter,
            raw_description=dict(wire),
        )


@dataclass
class ScheduleUpdateInput:
    description: ScheduleDescription


@dataclass
class ScheduleUpdate:
    schedule: Schedule
    # Replace the schedule's own search attributes; None keeps them (temporalio's meaning).
    search_attributes: TypedSearchAttributes | None = None


async def decode_memo(raw: Mapping[str, Any] | None, converter: DataConverter) -> dict[str, Any]:
    raw = raw or {}
    values = await converter.decode([Payload.model_validate(p) for p in raw.values()])
    return dict(zip(raw, values, strict=True))


async def memo_value_of(
    raw: Mapping[str, Any] | None, converter: DataConverter, key: str, default: Any, type_hint: type | None
) -> Any:
    if not raw or key not in raw:
        if default is _MISSING:
            raise KeyError(f"memo has no key {key!r}")
        return default
    (value,) = await converter.decode([Payload.model_validate(raw[key])], [type_hint] if type_hint else None)
    return value
