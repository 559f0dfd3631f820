"""Serialization contexts (temporalio.converter's `SerializationContext` family; re-exported by
`tidal.converter`): what a payload converter, codec or failure converter that implements
`WithSerializationContext` is told about the payloads it is about to handle."""

from __future__ import annotations

from abc import ABC
from dataclasses import dataclass
from typing import Self

__all__ = [
    "ActivitySerializationContext",
    "SerializationContext",
    "WithSerializationContext",
    "WorkflowSerializationContext",
]


class SerializationContext(ABC):  # noqa: B024  (a marker base, as temporalio's)
    """Base of the contexts below."""


@dataclass(frozen=True)
class WorkflowSerializationContext(SerializationContext):
    """The payloads are a workflow's input, output, signal, query or update (the worker's
    workflow task conversions)."""

    namespace: str
    workflow_id: str


@dataclass(frozen=True)
class ActivitySerializationContext(SerializationContext):
    """The payloads are an activity's input, output or heartbeat details (the worker running
    the activity)."""

    namespace: str
    activity_id: str | None
    activity_type: str | None
    activity_task_queue: str | None
    workflow_id: str | None
    workflow_type: str | None
    is_local: bool


class WithSerializationContext(ABC):  # noqa: B024  (the default keeps no context)
    """Implemented by converters and codecs that want the context: the SDK calls `with_context`
    and uses what it returns for those payloads."""

    def with_context(self, context: SerializationContext) -> Self:
        del context
        return self
