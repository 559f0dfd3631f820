"""One run as `Client.list_workflows` lists it (`WorkflowExecution`) and as
`WorkflowHandle.describe` describes it (`WorkflowExecutionDescription`): temporalio.client's
classes with the same fields and order (re-exported by `tidal.client`). `raw_info` is the
frontend's JSON document of the run (temporalio's is the protobuf message)."""

from __future__ import annotations

from collections.abc import AsyncIterator, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Any

from tidal_schema import Payload, WorkflowExecutionStatus

from ._client_types import (
    DescribeWorkflowExecutionResponse,
    PendingActivityInfo,
    PendingChildExecutionInfo,
    WorkflowHistory,
)
from ._history_events import WorkflowHistoryEventFilterType
from ._search_attributes import TypedSearchAttributes
from .converter import DataConverter

if TYPE_CHECKING:
    from ._client import Client

__all__ = ["WorkflowExecution", "WorkflowExecutionAsyncIterator", "WorkflowExecutionDescription"]

_UNSET: Any = object()


def _time(value: Any) -> datetime | None:
    return datetime.fromisoformat(value) if value else None


@dataclass(frozen=True)
class WorkflowExecution:
    """A run. From a listing, `execution_time` and the parent/root fields are None (the list
    document does not carry them yet); `describe()` fills them."""

    close_time: datetime | None
    execution_time: datetime | None
    history_length: int
    id: str
    namespace: str
    parent_id: str | None
    parent_run_id: str | None
    root_id: str | None
    root_run_id: str | None
    raw_info: Mapping[str, Any] = field(repr=False)
    run_id: str
    # Name -> JSON value (temporalio's deprecated untyped form); `typed_search_attributes` types it.
    search_attributes: Mapping[str, Any]
    start_time: datetime
    status: WorkflowExecutionStatus | None
    task_queue: str
    typed_search_attributes: TypedSearchAttributes
    workflow_type: str
    _context_free_data_converter: DataConverter = field(default=DataConverter.default, repr=False)

    @property
    def data_converter(self) -> DataConverter:
        """The converter that decodes this run's memo (the client's)."""
        return self._context_free_data_converter

    @property
    def raw(self) -> Mapping[str, Any]:
        """`raw_info` under the name Tidal used before."""
        return self.raw_info

    @property
    def memo_payloads(self) -> dict[str, Payload]:
        """The memo still encoded."""
        return {k: Payload.model_validate(v) for k, v in (self.raw_info.get("memo") or {}).items()}

    async def memo(self) -> Mapping[str, Any]:
        """Every memo value, decoded without type hints (a dataclass comes back as a dict; use
        `memo_value(key, type_hint=...)` for typed values), as temporalio's."""
        payloads = self.memo_payloads
        values = await self.data_converter.decode(list(payloads.values()), [None] * len(payloads))
        return dict(zip(payloads, values, strict=True))

    async def memo_value(self, key: str, default: Any = _UNSET, *, type_hint: type | None = None) -> Any:
        """One memo value, decoded with `type_hint`; `default` when the key is absent, else
        KeyError."""
        payload = self.memo_payloads.get(key)
        if payload is None:
            if default is _UNSET:
                raise KeyError(f"memo does not have a value for key {key}")
            return default
        return (await self.data_converter.decode([payload], [type_hint]))[0]

    @classmethod
    def _fields_from_json(
        cls, d: Mapping[str, Any], namespace: str, converter: DataConverter
    ) -> dict[str, Any]:
        attributes = dict(d.get("search_attributes") or {})
        return {
            "close_time": _time(d.get("close_time")),
            "execution_time": _time(d.get("execution_time")),
            "history_length": int(d.get("history_length", 0)),
            "id": d["workflow_id"],
            "namespace": d.get("namespace") or namespace,
            "parent_id": d.get("parent_workflow_id"),
            "parent_run_id": d.get("parent_run_id"),
            "root_id": d.get("root_workflow_id"),
            "root_run_id": d.get("root_run_id"),
            "raw_info": d,
            "run_id": d["run_id"],
            "search_attributes": attributes,
            "start_time": datetime.fromisoformat(d["start_time"]),
            "status": WorkflowExecutionStatus(d["status"]) if d.get("status") else None,
            "task_queue": d["task_queue"],
            "typed_search_attributes": TypedSearchAttributes.from_json(attributes),
            "workflow_type": d["workflow_type"],
            "_context_free_data_converter": converter,
        }

    @classmethod
    def from_json(
        cls,
        d: Mapping[str, Any],
        *,
        namespace: str = "",
        data_converter: DataConverter = DataConverter.default,
    ) -> WorkflowExecution:
        """From an entry of `GET .../workflows` (the list document)."""
        return cls(**cls._fields_from_json(d, namespace, data_converter))


@dataclass(frozen=True)
class WorkflowExecutionDescription(WorkflowExecution):
    """A run as `describe()` returns it: `raw_description` has the pending activities and
    children under temporalio's names."""

    raw_description: DescribeWorkflowExecutionResponse = field(
        default_factory=DescribeWorkflowExecutionResponse, repr=False
    )

    async def static_summary(self) -> str | None:
        """The summary given at start (temporalio's user metadata; async there too)."""
        value = self.raw_info.get("static_summary")
        return value if isinstance(value, str) else None

    async def static_details(self) -> str | None:
        value = self.raw_info.get("static_details")
        return value if isinstance(value, str) else None

    async def current_details(self) -> str | None:
        """What the workflow last set with `workflow.set_current_details` (as of its last
        completed workflow task); None when it never set any."""
        value = self.raw_info.get("current_details")
        return value if isinstance(value, str) else None

    @classmethod
    def from_json(
        cls,
        d: Mapping[str, Any],
        *,
        namespace: str = "",
        data_converter: DataConverter = DataConverter.default,
    ) -> WorkflowExecutionDescription:
        """From the document of `GET .../workflows/{id}`."""
        raw_description = DescribeWorkflowExecutionResponse(
            pending_activities=tuple(
                PendingActivityInfo.from_json(a) for a in d.get("pending_activities") or ()
            ),
            pending_children=tuple(
                PendingChildExecutionInfo.from_json(c) for c in d.get("pending_children") or ()
            ),
        )
        return cls(**cls._fields_from_json(d, namespace, data_converter), raw_description=raw_description)


class WorkflowExecutionAsyncIterator:
    """`async for execution in client.list_workflows(query)`; fetches pages as it goes.
    `next_page_token` is where the next page starts (None once the last page was fetched)."""

    def __init__(
        self, client: Client, query: str, *, page_size: int, limit: int | None, next_page_token: str | None
    ) -> None:
        self._client = client
        self._query = query
        self._page_size = page_size
        self._limit = limit
        self.next_page_token = next_page_token
        self.current_page: list[WorkflowExecution] | None = None
        self._index = 0
        self._yielded = 0
        self._done = False

    def __aiter__(self) -> WorkflowExecutionAsyncIterator:
        return self

    @property
    def current_page_index(self) -> int:
        """Index in `current_page` of the entry the iterator returns next."""
        return self._index

    async def fetch_next_page(self, *, page_size: int | None = None) -> None:
        """Fetch the next page (of `page_size` runs, default the iterator's)."""
        c = self._client
        size = page_size or self._page_size
        params: dict[str, Any] = {"query": self._query, "page_size": size}
        if self._limit is not None:
            params["page_size"] = max(1, min(size, self._limit - self._yielded))
        if self.next_page_token:
            params["next_page_token"] = self.next_page_token
        data = await c._call("GET", c._wf_path(), params=params)
        self.current_page = [
            WorkflowExecution.from_json(e, namespace=c.namespace, data_converter=c.data_converter)
            for e in data.get("executions", [])
        ]
        self._index = 0
        self.next_page_token = data.get("next_page_token")
        self._done = not self.next_page_token

    async def __anext__(self) -> WorkflowExecution:
        if self._limit is not None and self._yielded >= self._limit:
            raise StopAsyncIteration
        while self.current_page is None or self._index >= len(self.current_page):
            if self.current_page is not None and self._done:
                raise StopAsyncIteration
            await self.fetch_next_page()
        item = self.current_page[self._index]
        self._index += 1
        self._yielded += 1
        return item

    async def map_histories(
        self,
        *,
        event_filter_type: WorkflowHistoryEventFilterType = WorkflowHistoryEventFilterType.ALL_EVENT,
        skip_archival: bool = False,
    ) -> AsyncIterator[WorkflowHistory]:
        """The history of every listed run (`fetch_history` of each), as temporalio's."""
        async for execution in self:
            handle = self._client.get_workflow_handle(execution.id, run_id=execution.run_id)
            yield await handle.fetch_history(event_filter_type=event_filter_type, skip_archival=skip_archival)
