"""The options of a workflow start as the frontend's start request body: shared by
`Client.start_workflow` and update-with-start's `WithStartWorkflowOperation`."""

from __future__ import annotations

import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

from tidal_schema import Payload

from ._policies import WorkflowIDConflictPolicy, WorkflowIDReusePolicy
from ._search_attributes import TypedSearchAttributes
from ._visibility import encode_search_attributes
from .common import Priority, RetryPolicy
from .converter import DataConverter

__all__ = ["StartOptions"]


@dataclass(frozen=True, kw_only=True)
class StartOptions:
    workflow_type: str
    args: Sequence[Any]
    id: str
    task_queue: str
    execution_timeout: timedelta | None = None
    run_timeout: timedelta | None = None
    task_timeout: timedelta | None = None
    id_reuse_policy: WorkflowIDReusePolicy = WorkflowIDReusePolicy.ALLOW_DUPLICATE
    id_conflict_policy: WorkflowIDConflictPolicy = WorkflowIDConflictPolicy.UNSPECIFIED
    retry_policy: RetryPolicy | None = None
    memo: Mapping[str, Any] | None = None
    search_attributes: TypedSearchAttributes | Mapping[str, Any] | None = None
    start_delay: timedelta | None = None
    request_id: str | None = None
    static_summary: str | None = None
    static_details: str | None = None
    priority: Priority = Priority.default
    # Encoded already (client interceptors add them): recorded in WorkflowExecutionStarted.
    header: Mapping[str, Payload] = field(default_factory=dict)

    async def body(self, converter: DataConverter) -> dict[str, Any]:
        """The JSON body of `POST .../workflows` (a new request id when none was given)."""
        body: dict[str, Any] = {
            "workflow_id": self.id,
            "workflow_type": self.workflow_type,
            "task_queue": self.task_queue,
            "input": [p.model_dump(mode="json") for p in await converter.encode(list(self.args))],
            "request_id": self.request_id or str(uuid.uuid4()),
            "id_reuse_policy": self.id_reuse_policy.value,
            "id_conflict_policy": self.id_conflict_policy.wire_value(),
        }
        for key, td in (
            ("workflow_execution_timeout", self.execution_timeout),
            ("workflow_run_timeout", self.run_timeout),
            ("workflow_task_timeout", self.task_timeout),
            ("start_delay", self.start_delay),
        ):
            if td is not None:
                body[key] = td.total_seconds()
        for key, text in (("static_summary", self.static_summary), ("static_details", self.static_details)):
            if text is not None:
                body[key] = text
        if (priority := self.priority.to_schema()) is not None:
            body["priority"] = priority.model_dump(mode="json", exclude_none=True)
        if self.header:
            body["header"] = {k: p.model_dump(mode="json") for k, p in self.header.items()}
        if self.retry_policy is not None:
            body["retry_policy"] = self.retry_policy.to_schema().model_dump(mode="json")
        if self.memo:
            encoded = await converter.encode(list(self.memo.values()))
            body["memo"] = {k: p.model_dump(mode="json") for k, p in zip(self.memo, encoded, strict=True)}
        if isinstance(self.search_attributes, TypedSearchAttributes):
            body["search_attributes"] = self.search_attributes.to_json()
        elif self.search_attributes:
            body["search_attributes"] = encode_search_attributes(self.search_attributes)
        return body
