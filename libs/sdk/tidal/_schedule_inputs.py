"""What each schedule call hands to the client interceptor chain (temporalio.client's schedule
`*Input` classes, same field names and order; re-exported by `tidal.client`). Mutable, as
temporalio's, so an interceptor can change a call before passing it on."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from ._schedules import Schedule, ScheduleBackfill, ScheduleOverlapPolicy, ScheduleUpdate, ScheduleUpdateInput
from ._search_attributes import TypedSearchAttributes

__all__ = [
    "BackfillScheduleInput",
    "CreateScheduleInput",
    "DeleteScheduleInput",
    "DescribeScheduleInput",
    "ListSchedulesInput",
    "PauseScheduleInput",
    "TriggerScheduleInput",
    "UnpauseScheduleInput",
    "UpdateScheduleInput",
]

RpcMetadata = Mapping[str, str | bytes]
Updater = Callable[[ScheduleUpdateInput], ScheduleUpdate | Awaitable[ScheduleUpdate | None] | None]


@dataclass
class CreateScheduleInput:
    """`Client.create_schedule`."""

    id: str
    schedule: Schedule
    trigger_immediately: bool
    backfill: Sequence[ScheduleBackfill]
    memo: Mapping[str, Any] | None
    search_attributes: TypedSearchAttributes | Mapping[str, Any] | None
    rpc_metadata: RpcMetadata
    rpc_timeout: timedelta | None


@dataclass
class ListSchedulesInput:
    """`Client.list_schedules`."""

    page_size: int
    next_page_token: bytes | None
    rpc_metadata: RpcMetadata
    rpc_timeout: timedelta | None
    query: str | None = None


@dataclass
class BackfillScheduleInput:
    """`ScheduleHandle.backfill`."""

    id: str
    backfills: Sequence[ScheduleBackfill]
    rpc_metadata: RpcMetadata
    rpc_timeout: timedelta | None


@dataclass
class DeleteScheduleInput:
    """`ScheduleHandle.delete`."""

    id: str
    rpc_metadata: RpcMetadata
    rpc_timeout: timedelta | None


@dataclass
class DescribeScheduleInput:
    """`ScheduleHandle.describe`."""

    id: str
    rpc_metadata: RpcMetadata
    rpc_timeout: timedelta | None


@dataclass
class PauseScheduleInput:
    """`ScheduleHandle.pause`."""

    id: str
    note: str | None
    rpc_metadata: RpcMetadata
    rpc_timeout: timedelta | None


@dataclass
class TriggerScheduleInput:
    """`ScheduleHandle.trigger`."""

    id: str
    overlap: ScheduleOverlapPolicy | None
    rpc_metadata: RpcMetadata
    rpc_timeout: timedelta | None


@dataclass
class UnpauseScheduleInput:
    """`ScheduleHandle.unpause`."""

    id: str
    note: str | None
    rpc_metadata: RpcMetadata
    rpc_timeout: timedelta | None


@dataclass
class UpdateScheduleInput:
    """`ScheduleHandle.update`."""

    id: str
    updater: Updater
    rpc_metadata: RpcMetadata
    rpc_timeout: timedelta | None
