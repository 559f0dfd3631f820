"""What each client call hands to the interceptor chain (temporalio.client's `*Input` classes,
same field names and order; re-exported by `tidal.client`).

Mutable dataclasses, as temporalio's: an interceptor changes the call by assigning a field
(`input.headers = {**input.headers, "tenant": payload}`) before passing it on. `headers` are
encoded payloads (`tidal_schema.Payload`); `rpc_metadata` goes out as extra HTTP headers of the
call and `rpc_timeout` bounds it.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import timedelta
from typing import TYPE_CHECKING, Any

from tidal_schema import Payload

from ._client_interactions import WorkflowUpdateStage
from ._policies import WorkflowIDConflictPolicy, WorkflowIDReusePolicy
from ._search_attributes import TypedSearchAttributes
from .common import Priority, QueryRejectCondition, RetryPolicy

if TYPE_CHECKING:
    from ._history_events import WorkflowHistoryEventFilterType

__all__ = [
    "CancelWorkflowInput",
    "CountWorkflowsInput",
    "DescribeWorkflowInput",
    "FetchWorkflowHistoryEventsInput",
    "ListWorkflowsInput",
    "QueryWorkflowInput",
    "SignalWorkflowInput",
    "StartWorkflowInput",
    "StartWorkflowUpdateInput",
    "StartWorkflowUpdateWithStartInput",
    "TerminateWorkflowInput",
    "UpdateWithStartStartWorkflowInput",
    "UpdateWithStartUpdateWorkflowInput",
]

Headers = Mapping[str, Payload]
RpcMetadata = Mapping[str, str | bytes]
SearchAttributesArg = TypedSearchAttributes | Mapping[str, Any] | None


@dataclass
class StartWorkflowInput:
    """`Client.start_workflow` (and `execute_workflow`)."""

    workflow: str
    args: Sequence[Any]
    id: str
    task_queue: str
    execution_timeout: timedelta | None
    run_timeout: timedelta | None
    task_timeout: timedelta | None
    id_reuse_policy: WorkflowIDReusePolicy
    id_conflict_policy: WorkflowIDConflictPolicy
    retry_policy: RetryPolicy | None
    # Tidal runs cron through schedules: a non-empty value is refused by the client.
    cron_schedule: str
    memo: Mapping[str, Any] | None
    search_attributes: SearchAttributesArg
    start_delay: timedelta | None
    headers: Headers
    start_signal: str | None
    start_signal_args: Sequence[Any]
    static_summary: str | None
    static_details: str | None
    ret_type: type | None
    rpc_metadata: RpcMetadata
    rpc_timeout: timedelta | None
    request_eager_start: bool
    priority: Priority
    request_id: str | None = field(default=None, kw_only=True)


@dataclass
class CancelWorkflowInput:
    """`WorkflowHandle.cancel`."""

    id: str
    run_id: str | None
    first_execution_run_id: str | None
    reason: str
    rpc_metadata: RpcMetadata
    rpc_timeout: timedelta | None


@dataclass
class DescribeWorkflowInput:
    """`WorkflowHandle.describe`."""

    id: str
    run_id: str | None
    rpc_metadata: RpcMetadata
    rpc_timeout: timedelta | None


@dataclass
class FetchWorkflowHistoryEventsInput:
    """`WorkflowHandle.fetch_history_events` (and `fetch_history`)."""

    id: str
    run_id: str | None
    page_size: int | None
    next_page_token: bytes | None
    wait_new_event: bool
    event_filter_type: WorkflowHistoryEventFilterType
    skip_archival: bool
    rpc_metadata: RpcMetadata
    rpc_timeout: timedelta | None


@dataclass
class ListWorkflowsInput:
    """`Client.list_workflows`."""

    query: str | None
    page_size: int
    next_page_token: bytes | None
    rpc_metadata: RpcMetadata
    rpc_timeout: timedelta | None
    limit: int | None


@dataclass
class CountWorkflowsInput:
    """`Client.count_workflows`."""

    query: str | None
    rpc_metadata: RpcMetadata
    rpc_timeout: timedelta | None


@dataclass
class QueryWorkflowInput:
    """`WorkflowHandle.query`. `headers` reach the worker's query task."""

    id: str
    run_id: str | None
    query: str
    args: Sequence[Any]
    reject_condition: QueryRejectCondition | None
    headers: Headers
    ret_type: type | None
    rpc_metadata: RpcMetadata
    rpc_timeout: timedelta | None


@dataclass
class SignalWorkflowInput:
    """`WorkflowHandle.signal`. `headers` are recorded in WorkflowExecutionSignaled."""

    id: str
    run_id: str | None
    signal: str
    args: Sequence[Any]
    headers: Headers
    rpc_metadata: RpcMetadata
    rpc_timeout: timedelta | None


@dataclass
class TerminateWorkflowInput:
    """`WorkflowHandle.terminate`; `args` are recorded as the event's details."""

    id: str
    run_id: str | None
    first_execution_run_id: str | None
    args: Sequence[Any]
    reason: str | None
    rpc_metadata: RpcMetadata
    rpc_timeout: timedelta | None


@dataclass
class StartWorkflowUpdateInput:
    """`WorkflowHandle.start_update` and `execute_update`."""

    id: str
    run_id: str | None
    first_execution_run_id: str | None
    update_id: str | None
    update: str
    args: Sequence[Any]
    wait_for_stage: WorkflowUpdateStage
    headers: Headers
    ret_type: type | None
    rpc_metadata: RpcMetadata
    rpc_timeout: timedelta | None


@dataclass
class UpdateWithStartUpdateWorkflowInput:
    """The update half of `Client.start_update_with_start_workflow`."""

    update_id: str | None
    update: str
    args: Sequence[Any]
    wait_for_stage: WorkflowUpdateStage
    headers: Headers
    ret_type: type | None


@dataclass
class UpdateWithStartStartWorkflowInput:
    """The start half of `Client.start_update_with_start_workflow` (a `StartWorkflowInput`
    without signal-with-start and eager start)."""

    workflow: str
    args: Sequence[Any]
    id: str
    task_queue: str
    execution_timeout: timedelta | None
    run_timeout: timedelta | None
    task_timeout: timedelta | None
    id_reuse_policy: WorkflowIDReusePolicy
    id_conflict_policy: WorkflowIDConflictPolicy
    retry_policy: RetryPolicy | None
    cron_schedule: str
    memo: Mapping[str, Any] | None
    search_attributes: SearchAttributesArg
    start_delay: timedelta | None
    headers: Headers
    static_summary: str | None
    static_details: str | None
    ret_type: type | None
    priority: Priority
    request_id: str | None = field(default=None, kw_only=True)


@dataclass
class StartWorkflowUpdateWithStartInput:
    """`Client.start_update_with_start_workflow` (and `execute_update_with_start_workflow`).
    `_on_start` / `_on_start_error` resolve the operation's `workflow_handle()`."""

    start_workflow_input: UpdateWithStartStartWorkflowInput
    update_workflow_input: UpdateWithStartUpdateWorkflowInput
    rpc_metadata: RpcMetadata
    rpc_timeout: timedelta | None
    _on_start: Callable[[str, bool], None]
    _on_start_error: Callable[[BaseException], None]
