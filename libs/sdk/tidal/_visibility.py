"""Listing and counting runs: `Client.list_workflows` / `Client.count_workflows`, as temporalio.

The query is the server's filter language (docs/visibility.md), e.g.
``WorkflowType = 'Order' AND ExecutionStatus = 'Running' AND CustomerId = 'c-42'``.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from ._search_attributes import encode_value

if TYPE_CHECKING:
    from .client import Client


def encode_search_attributes(values: Mapping[str, Any]) -> dict[str, Any]:
    """Search attribute values as JSON: date-times become ISO-8601 strings with an offset (the
    server infers Datetime from those), everything else goes as it is."""
    return {name: encode_value(value) for name, value in values.items()}


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


async def count_workflows(client: Client, query: str) -> WorkflowExecutionCount:
    data = await client._call(
        "GET", f"/api/v1/namespaces/{client.namespace}/workflow-count", params={"query": query}
    )
    groups = tuple(
        WorkflowExecutionCountAggregationGroup(count=int(g["count"]), group_values=tuple(g["group_values"]))
        for g in data.get("groups") or ()
    )
    return WorkflowExecutionCount(count=int(data["count"]), groups=groups)
