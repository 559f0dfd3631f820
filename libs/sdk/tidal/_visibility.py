"""Listing and counting runs: `Client.list_workflows` / `Client.count_workflows`, as temporalio.

The query is the server's filter language (docs/visibility.md), e.g.
``WorkflowType = 'Order' AND ExecutionStatus = 'Running' AND CustomerId = 'c-42'``.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Any

from tidal_schema import Payload, WorkflowExecutionStatus

from ._search_attributes import TypedSearchAttributes, encode_value

if TYPE_CHECKING:
    from .client import Client


def encode_search_attributes(values: Mapping[str, Any]) -> dict[str, Any]:
    """Search attribute values as JSON: date-times become ISO-8601 strings with an offset (the
    server infers Datetime from those), everything else goes as it is."""
    return {name: encode_value(value) for name, value in values.items()}


@dataclass(frozen=True, kw_only=True)
class WorkflowExecution:
    """One run as listed (temporalio.client.WorkflowExecution's fields that Tidal has)."""

    id: str
    run_id: str
    workflow_type: str
    task_queue: str
    status: WorkflowExecutionStatus
    start_time: datetime
    close_time: datetime | None
    history_length: int
    search_attributes: dict[str, Any]
    memo_payloads: dict[str, Payload] = field(repr=False)
    raw: dict[str, Any] = field(repr=False)

    @property
    def typed_search_attributes(self) -> TypedSearchAttributes:
        return TypedSearchAttributes.from_json(self.search_attributes)

    @staticmethod
    def from_json(d: dict[str, Any]) -> WorkflowExecution:
        return WorkflowExecution(
            id=d["workflow_id"],
            run_id=d["run_id"],
            workflow_type=d["workflow_type"],
            task_queue=d["task_queue"],
            status=WorkflowExecutionStatus(d["status"]),
            start_time=datetime.fromisoformat(d["start_time"]),
            close_time=datetime.fromisoformat(d["close_time"]) if d.get("close_time") else None,
            history_length=int(d.get("history_length", 0)),
            search_attributes=dict(d.get("search_attributes") or {}),
            memo_payloads={k: Payload.model_validate(v) for k, v in (d.get("memo") or {}).items()},
            raw=d,
        )


@dataclass(frozen=True)
class WorkflowExecutionCountAggregationGroup:
    """One group of a `GROUP BY` count (temporalio's name)."""

    count: int
    group_values: Sequence[Any]


@dataclass(frozen=True)
class WorkflowExecutionCount:
    count: int
    groups: Sequence[WorkflowExecutionCountAggregationGroup] = ()
    """With `GROUP BY ExecutionStatus` in the query: the count of each status with runs."""


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

    async def fetch_next_page(self) -> None:
        c = self._client
        params: dict[str, Any] = {"query": self._query, "page_size": self._page_size}
        if self._limit is not None:
            params["page_size"] = max(1, min(self._page_size, self._limit - self._yielded))
        if self.next_page_token:
            params["next_page_token"] = self.next_page_token
        data = await c._call("GET", c._wf_path(), params=params)
        self.current_page = [WorkflowExecution.from_json(e) for e in data.get("executions", [])]
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


async def count_workflows(client: Client, query: str) -> WorkflowExecutionCount:
    data = await client._call(
        "GET", f"/api/v1/namespaces/{client.namespace}/workflow-count", params={"query": query}
    )
    groups = tuple(
        WorkflowExecutionCountAggregationGroup(count=int(g["count"]), group_values=tuple(g["group_values"]))
        for g in data.get("groups") or ()
    )
    return WorkflowExecutionCount(count=int(data["count"]), groups=groups)
