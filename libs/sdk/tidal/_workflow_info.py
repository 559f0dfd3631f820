"""What a workflow knows about its run (`workflow.info()`): part of `tidal.workflow`'s API
(re-exported there; mirrors temporalio.workflow.Info)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from tidal_schema import Payload

from ._search_attributes import TypedSearchAttributes
from ._workflow_context import _rt
from .common import Priority, RetryPolicy

__all__ = ["Info", "ParentInfo"]


@dataclass(frozen=True)
class ParentInfo:
    """The workflow that started this one as a child."""

    namespace: str
    run_id: str
    workflow_id: str


@dataclass(frozen=True)
class Info:
    namespace: str
    workflow_id: str
    run_id: str
    workflow_type: str
    task_queue: str
    attempt: int
    start_time: datetime
    run_timeout: timedelta | None
    execution_timeout: timedelta | None
    task_timeout: timedelta
    parent: ParentInfo | None = None
    continued_run_id: str | None = None  # the run this one continued from (continue-as-new)
    # The start's memo, still encoded: read it with `workflow.memo()` / `workflow.memo_value()`.
    raw_memo: Mapping[str, Payload] = field(default_factory=dict, repr=False)
    # From the start event, as temporalio's: the chain's first run (continue-as-new and retries
    # keep it), the run this attempt chain began with, the cron schedule and the retry policy.
    first_execution_run_id: str = ""
    original_execution_run_id: str = ""
    cron_schedule: str | None = None
    retry_policy: RetryPolicy | None = None
    priority: Priority = Priority.default
    # Name -> JSON value: the start's search attributes with this run's upserts applied so far.
    search_attributes: Mapping[str, Any] = field(default_factory=dict)

    @property
    def typed_search_attributes(self) -> TypedSearchAttributes:
        return TypedSearchAttributes.from_json(self.search_attributes)

    def get_current_history_length(self) -> int:
        """Events in history as of the current workflow task, as temporalio's. Tidal writes a
        task's `WorkflowTaskStarted` with its outcome, so this counts up to the task's
        `WorkflowTaskScheduled` (one event fewer than Temporal) and is the same on replay."""
        return _rt().current_history_length
