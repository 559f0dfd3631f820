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

__all__ = ["Info", "ParentInfo", "RootInfo"]


@dataclass(frozen=True)
class ParentInfo:
    """The workflow that started this one as a child."""

    namespace: str
    run_id: str
    workflow_id: str


@dataclass(frozen=True)
class RootInfo:
    """The top of this run's chain of parents (the parent's root, or the parent itself)."""

    run_id: str
    workflow_id: str


@dataclass(frozen=True)
class Info:
    """What the run knows about itself (`workflow.info()`), with temporalio's fields in its
    order. `start_time` is the first workflow task's time, `workflow_start_time` the
    `WorkflowExecutionStarted` time (they differ by a start delay or a retry's backoff).
    `headers` are the start's headers (what client interceptors added, from
    `WorkflowExecutionStarted.header`)."""

    attempt: int
    continued_run_id: str | None  # the run this one continued from (continue-as-new, retries)
    cron_schedule: str | None
    execution_timeout: timedelta | None
    # The chain's first run (continue-as-new and retries keep it).
    first_execution_run_id: str
    headers: Mapping[str, Payload]
    namespace: str
    original_execution_run_id: str  # the run id recorded on WorkflowExecutionStarted
    parent: ParentInfo | None
    root: RootInfo | None
    priority: Priority
    # The start's memo, still encoded: read it with `workflow.memo()` / `workflow.memo_value()`.
    raw_memo: Mapping[str, Payload] = field(repr=False)
    retry_policy: RetryPolicy | None
    run_id: str
    run_timeout: timedelta | None
    # Name -> JSON value: the start's search attributes with this run's upserts applied so far.
    search_attributes: Mapping[str, Any]
    start_time: datetime
    task_queue: str
    task_timeout: timedelta
    typed_search_attributes: TypedSearchAttributes
    workflow_id: str
    workflow_start_time: datetime
    workflow_type: str

    def get_current_history_length(self) -> int:
        """Events in history as of the current workflow task, as temporalio's. Tidal writes a
        task's `WorkflowTaskStarted` with its outcome, so this counts up to the task's
        `WorkflowTaskScheduled` (one event fewer than Temporal) and is the same on replay."""
        return _rt().current_history_length

    def get_current_history_size(self) -> int:
        """Bytes of the run's history (its events as stored) when history sent the current
        workflow task, as temporalio's; the same on replay (recorded on the task's
        `WorkflowTaskStarted`)."""
        return _rt().current_history_size

    def is_continue_as_new_suggested(self) -> bool:
        """Whether the run's history length or size passed the server's suggestion thresholds
        when the current task was sent (Temporal's defaults: 4,096 events, 4 MiB; history's
        `history_count_suggest_continue_as_new` / `history_size_suggest_continue_as_new`
        settings); the same on replay."""
        return _rt().continue_as_new_suggested
