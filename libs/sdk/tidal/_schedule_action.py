"""What a schedule does: `ScheduleActionStartWorkflow` (temporalio.client's; re-exported by
`tidal.client`), and how it travels as the HTTP API's JSON (`to_wire` / `from_wire`)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping, Sequence
from datetime import timedelta
from typing import Any

from pydantic import TypeAdapter
from tidal_schema import Payload
from tidal_schema import Priority as SchemaPriority
from tidal_schema import RetryPolicy as SchemaRetryPolicy

from ._client_types import _workflow_name
from ._search_attributes import TypedSearchAttributes
from ._visibility import encode_search_attributes
from .common import Priority, RetryPolicy
from .converter import DataConverter

__all__ = ["ScheduleAction", "ScheduleActionStartWorkflow", "duration_of"]

_MISSING: Any = object()
_TIMEDELTA: TypeAdapter[timedelta] = TypeAdapter(timedelta)


def duration_of(value: Any) -> timedelta | None:
    """The API's durations: ISO 8601 (pydantic's JSON form, e.g. "PT10S") or seconds."""
    if value is None:
        return None
    if isinstance(value, int | float):
        return timedelta(seconds=value)
    return _TIMEDELTA.validate_python(value)


class ScheduleAction:
    """Base of what a schedule does (only starting a workflow, as in Temporal today)."""


class ScheduleActionStartWorkflow(ScheduleAction):
    """Start a workflow; its id is `id` + "-" + the nominal time (RFC 3339, UTC). The runs get
    the typed and untyped search attributes, the static summary and details, the priority and
    the headers (encoded payloads, as client interceptors give them) of the action.

    `raw_info` (temporalio's, there the proto of the start): the action as the HTTP API's JSON
    gives it; every field is read from it and the other arguments are ignored. Its arguments and
    memo stay the payloads they are (`args` holds `Payload`s) and go back unconverted, so an
    action whose values this client cannot decode can still be copied or updated."""

    def __init__(
        self,
        workflow: str | Callable[..., Awaitable[Any]],
        arg: Any = _MISSING,
        *,
        args: Sequence[Any] = (),
        id: str | None = None,
        task_queue: str | None = None,
        execution_timeout: timedelta | None = None,
        run_timeout: timedelta | None = None,
        task_timeout: timedelta | None = None,
        retry_policy: RetryPolicy | None = None,
        memo: Mapping[str, Any] | None = None,
        typed_search_attributes: TypedSearchAttributes = TypedSearchAttributes.empty,
        untyped_search_attributes: Mapping[str, Any] | None = None,
        static_summary: str | None = None,
        static_details: str | None = None,
        headers: Mapping[str, Payload] | None = None,
        raw_info: Mapping[str, Any] | None = None,
        priority: Priority = Priority.default,
    ) -> None:
        self._raw: Mapping[str, Any] | None = None
        if raw_info is not None:
            self._init_from_raw(raw_info)
            return
        if id is None or task_queue is None:
            raise ValueError("ScheduleActionStartWorkflow needs id and task_queue")
        self.workflow = workflow if isinstance(workflow, str) else _workflow_name(workflow)[0]
        self.args: Sequence[Any] = [arg] if arg is not _MISSING else list(args)
        self.id = id
        self.task_queue = task_queue
        self.execution_timeout = execution_timeout
        self.run_timeout = run_timeout
        self.task_timeout = task_timeout
        self.retry_policy = retry_policy
        self.memo: Mapping[str, Any] | None = memo
        self.typed_search_attributes = typed_search_attributes
        self.untyped_search_attributes: Mapping[str, Any] = dict(untyped_search_attributes or {})
        self.static_summary = static_summary
        self.static_details = static_details
        self.headers: Mapping[str, Payload] = dict(headers or {})
        self.priority = priority

    def _init_from_raw(self, raw: Mapping[str, Any]) -> None:
        policy, priority = raw.get("retry_policy"), raw.get("priority")
        attributes = raw.get("search_attributes") or {}
        self._raw = raw
        self.workflow = raw["workflow_type"]
        self.args = [Payload.model_validate(p) for p in raw.get("input") or ()]
        self.id, self.task_queue = raw["workflow_id"], raw["task_queue"]
        self.execution_timeout = duration_of(raw.get("workflow_execution_timeout"))
        self.run_timeout = duration_of(raw.get("workflow_run_timeout"))
        self.task_timeout = duration_of(raw.get("workflow_task_timeout"))
        self.retry_policy = (
            RetryPolicy.from_schema(SchemaRetryPolicy.model_validate(policy)) if policy else None
        )
        self.memo = {k: Payload.model_validate(p) for k, p in (raw.get("memo") or {}).items()} or None
        self.typed_search_attributes = TypedSearchAttributes.from_json(attributes)
        self.untyped_search_attributes = dict(attributes)
        self.static_summary, self.static_details = raw.get("static_summary"), raw.get("static_details")
        self.headers = {k: Payload.model_validate(p) for k, p in (raw.get("header") or {}).items()}
        self.priority = (
            Priority.from_schema(SchemaPriority.model_validate(priority)) if priority else Priority.default
        )

    def __repr__(self) -> str:
        return (
            f"ScheduleActionStartWorkflow(workflow={self.workflow!r}, id={self.id!r}, "
            f"task_queue={self.task_queue!r})"
        )

    async def _payloads(self, values: Sequence[Any], converter: DataConverter) -> list[dict[str, Any]]:
        # Built from raw_info: the values are the payloads already (not converted twice).
        encoded = values if self._raw is not None else await converter.encode(list(values))
        return [p.model_dump(mode="json") for p in encoded]

    async def to_wire(self, converter: DataConverter) -> dict[str, Any]:
        wire: dict[str, Any] = {
            "workflow_type": self.workflow,
            "workflow_id": self.id,
            "task_queue": self.task_queue,
            "input": await self._payloads(self.args, converter),
            "search_attributes": {
                **encode_search_attributes(self.untyped_search_attributes),
                **self.typed_search_attributes.to_json(),
            },
        }
        for key, td in (
            ("workflow_execution_timeout", self.execution_timeout),
            ("workflow_run_timeout", self.run_timeout),
            ("workflow_task_timeout", self.task_timeout),
        ):
            if td is not None:
                wire[key] = td.total_seconds()
        if self.retry_policy is not None:
            wire["retry_policy"] = self.retry_policy.to_schema().model_dump(mode="json")
        if self.memo:
            encoded = await self._payloads(list(self.memo.values()), converter)
            wire["memo"] = dict(zip(self.memo, encoded, strict=True))
        for key, text in (("static_summary", self.static_summary), ("static_details", self.static_details)):
            if text is not None:
                wire[key] = text
        if (priority := self.priority.to_schema()) is not None:
            wire["priority"] = priority.model_dump(mode="json", exclude_none=True)
        if self.headers:
            wire["header"] = {k: p.model_dump(mode="json") for k, p in self.headers.items()}
        return wire

    @staticmethod
    async def from_wire(wire: Mapping[str, Any], converter: DataConverter) -> ScheduleActionStartWorkflow:
        args = await converter.decode([Payload.model_validate(p) for p in wire.get("input") or ()])
        memo_raw = wire.get("memo") or {}
        memo_values = await converter.decode([Payload.model_validate(p) for p in memo_raw.values()])
        policy = wire.get("retry_policy")
        priority = wire.get("priority")
        attributes = wire.get("search_attributes") or {}
        return ScheduleActionStartWorkflow(
            wire["workflow_type"],
            args=args,
            id=wire["workflow_id"],
            task_queue=wire["task_queue"],
            execution_timeout=duration_of(wire.get("workflow_execution_timeout")),
            run_timeout=duration_of(wire.get("workflow_run_timeout")),
            task_timeout=duration_of(wire.get("workflow_task_timeout")),
            retry_policy=RetryPolicy.from_schema(SchemaRetryPolicy.model_validate(policy))
            if policy
            else None,
            memo=dict(zip(memo_raw, memo_values, strict=True)) or None,
            # Stored untyped: both views of the same values (the types are inferred).
            typed_search_attributes=TypedSearchAttributes.from_json(attributes),
            untyped_search_attributes=attributes,
            static_summary=wire.get("static_summary"),
            static_details=wire.get("static_details"),
            headers={k: Payload.model_validate(p) for k, p in (wire.get("header") or {}).items()},
            priority=Priority.from_schema(SchemaPriority.model_validate(priority))
            if priority
            else Priority.default,
        )
