"""Workflow interceptors, as temporalio.worker's (re-exported by `tidal.worker`).

`Interceptor.workflow_interceptor_class(WorkflowInterceptorClassInput(...))` returns a
`WorkflowInboundInterceptor` subclass; the worker instantiates it once per run with the next
link of the chain (the first interceptor given is the outermost; the innermost link is the
runtime's own code). Its `init` receives the outbound chain, which it may wrap with its own
`WorkflowOutboundInterceptor`. Every delivery to the workflow (start, signal, query, update) goes
through the inbound chain, and every call workflow code makes that reaches history (activities,
local activities, child workflows, signals to other workflows, continue-as-new) or reads
`workflow.info()` goes through the outbound chain.

Interceptors run inside the workflow's deterministic event loop: on replay they run again over the
same history, so they must be as deterministic as workflow code (no wall clock, no I/O).
`headers` carry Temporal's header payloads: what the client's interceptors put on the start
arrive in `ExecuteWorkflowInput.headers` (and `workflow.info().headers`); what an outbound
interceptor puts on an activity, a child or a signal arrives in that activity's
`ExecuteActivityInput.headers`, that child's `ExecuteWorkflowInput.headers`, that signal's
`HandleSignalInput.headers`.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping, MutableMapping, Sequence
from dataclasses import dataclass, field
from datetime import timedelta
from typing import TYPE_CHECKING, Any, NoReturn

from tidal_schema import Payload

from ._policies import WorkflowIDReusePolicy
from ._search_attributes import TypedSearchAttributes
from .common import Priority, RetryPolicy

if TYPE_CHECKING:
    # Annotations only: these modules build the inputs, so importing them here would be a cycle.
    from ._children import ChildWorkflowCancellationType, ChildWorkflowHandle, ParentClosePolicy
    from ._workflow_activities import ActivityCancellationType, ActivityHandle
    from ._workflow_info import Info

__all__ = [
    "ContinueAsNewInput",
    "ExecuteWorkflowInput",
    "HandleQueryInput",
    "HandleSignalInput",
    "HandleUpdateInput",
    "SignalChildWorkflowInput",
    "SignalExternalWorkflowInput",
    "StartActivityInput",
    "StartChildWorkflowInput",
    "StartLocalActivityInput",
    "WorkflowInboundInterceptor",
    "WorkflowInterceptorClassInput",
    "WorkflowOutboundInterceptor",
]


@dataclass(frozen=True)
class WorkflowInterceptorClassInput:
    """Input for `Interceptor.workflow_interceptor_class`. Tidal has no workflow sandbox, so
    nothing reads `unsafe_extern_functions` (kept so that temporalio interceptors port as they
    are)."""

    unsafe_extern_functions: MutableMapping[str, Callable[..., Any]]


# The inputs are not frozen: as in temporalio, an interceptor alters the call by assigning fields
# (`input.args = ...`, `input.headers = {...}`) before passing the input on. Their fields are
# temporalio's, in its order, so that inputs built positionally port; `versioning_*` and
# `event_groups` (worker versioning, experimental event groups) are kept for that only: the
# runtime ignores them.


@dataclass
class ExecuteWorkflowInput:
    """Input for `WorkflowInboundInterceptor.execute_workflow`. `run_fn` is the unbound
    `@workflow.run` method of `type`."""

    type: type
    run_fn: Callable[..., Awaitable[Any]]
    args: Sequence[Any]
    headers: Mapping[str, Payload]


@dataclass
class HandleSignalInput:
    """Input for `WorkflowInboundInterceptor.handle_signal`."""

    signal: str
    args: Sequence[Any]
    headers: Mapping[str, Payload]


@dataclass
class HandleQueryInput:
    """Input for `WorkflowInboundInterceptor.handle_query`."""

    id: str
    query: str
    args: Sequence[Any]
    headers: Mapping[str, Payload]


@dataclass
class HandleUpdateInput:
    """Input for `handle_update_validator` and `handle_update_handler`. Tidal's updates carry
    no header yet, so `headers` is empty."""

    id: str
    update: str
    args: Sequence[Any]
    headers: Mapping[str, Payload]


@dataclass
class ContinueAsNewInput:
    """Input for `WorkflowOutboundInterceptor.continue_as_new`. `headers` become the new run's
    (its `ExecuteWorkflowInput.headers`)."""

    workflow: str | None
    args: Sequence[Any]
    task_queue: str | None
    run_timeout: timedelta | None
    task_timeout: timedelta | None
    backoff_start_interval: timedelta | None
    retry_policy: RetryPolicy | None
    memo: Mapping[str, Any] | None
    search_attributes: TypedSearchAttributes | Mapping[str, Any] | None
    headers: Mapping[str, Payload]
    versioning_intent: object | None
    initial_versioning_behavior: object | None
    event_groups: Sequence[object] | None = None
    arg_types: list[type] | None = None


@dataclass
class SignalChildWorkflowInput:
    """Input for `WorkflowOutboundInterceptor.signal_child_workflow`."""

    signal: str
    args: Sequence[Any]
    child_workflow_id: str
    headers: Mapping[str, Payload]
    event_groups: Sequence[object] | None = None


@dataclass
class SignalExternalWorkflowInput:
    """Input for `WorkflowOutboundInterceptor.signal_external_workflow`."""

    signal: str
    args: Sequence[Any]
    namespace: str
    workflow_id: str
    workflow_run_id: str | None
    headers: Mapping[str, Payload]
    event_groups: Sequence[object] | None = None


@dataclass
class StartActivityInput:
    """Input for `WorkflowOutboundInterceptor.start_activity`. `disable_eager_execution` keeps
    the activity from being handed straight back to this worker (Temporal's eager execution)."""

    activity: str
    args: Sequence[Any]
    activity_id: str | None
    task_queue: str | None
    schedule_to_close_timeout: timedelta | None
    schedule_to_start_timeout: timedelta | None
    start_to_close_timeout: timedelta | None
    heartbeat_timeout: timedelta | None
    retry_policy: RetryPolicy | None
    cancellation_type: ActivityCancellationType
    headers: Mapping[str, Payload]
    disable_eager_execution: bool
    versioning_intent: object | None
    summary: str | None
    event_groups: Sequence[object] | None = field(default=None, kw_only=True)
    priority: Priority
    arg_types: list[type] | None
    ret_type: type | None


@dataclass
class StartChildWorkflowInput:
    """Input for `WorkflowOutboundInterceptor.start_child_workflow`."""

    workflow: str
    args: Sequence[Any]
    id: str
    task_queue: str | None
    cancellation_type: ChildWorkflowCancellationType
    parent_close_policy: ParentClosePolicy
    execution_timeout: timedelta | None
    run_timeout: timedelta | None
    task_timeout: timedelta | None
    id_reuse_policy: WorkflowIDReusePolicy
    retry_policy: RetryPolicy | None
    cron_schedule: str
    memo: Mapping[str, Any] | None
    search_attributes: TypedSearchAttributes | Mapping[str, Any] | None
    headers: Mapping[str, Payload]
    versioning_intent: object | None
    static_summary: str | None
    static_details: str | None
    versioning_override: object | None = field(default=None, kw_only=True)
    event_groups: Sequence[object] | None = field(default=None, kw_only=True)
    priority: Priority
    arg_types: list[type] | None
    ret_type: type | None


@dataclass
class StartLocalActivityInput:
    """Input for `WorkflowOutboundInterceptor.start_local_activity`."""

    activity: str
    args: Sequence[Any]
    activity_id: str | None
    schedule_to_close_timeout: timedelta | None
    schedule_to_start_timeout: timedelta | None
    start_to_close_timeout: timedelta | None
    retry_policy: RetryPolicy | None
    local_retry_threshold: timedelta | None
    cancellation_type: ActivityCancellationType
    headers: Mapping[str, Payload]
    summary: str | None
    event_groups: Sequence[object] | None = None
    arg_types: list[type] | None = None
    ret_type: type | None = None


class WorkflowInboundInterceptor:
    """Wraps what is delivered to a workflow run; every call delegates to `next` by default."""

    def __init__(self, next: WorkflowInboundInterceptor) -> None:
        self.next = next

    def init(self, outbound: WorkflowOutboundInterceptor) -> None:
        """Called once per run with the outbound chain; wrap `outbound` before passing it on to
        add an outbound interceptor."""
        self.next.init(outbound)

    async def execute_workflow(self, input: ExecuteWorkflowInput) -> Any:
        """Runs the workflow's `@workflow.run` method."""
        return await self.next.execute_workflow(input)

    async def handle_signal(self, input: HandleSignalInput) -> None:
        """Runs a signal handler."""
        return await self.next.handle_signal(input)

    async def handle_query(self, input: HandleQueryInput) -> Any:
        """Runs a query handler. It must not wait: a query answers from the current state."""
        return await self.next.handle_query(input)

    def handle_update_validator(self, input: HandleUpdateInput) -> None:
        """Runs an update's validator (raising rejects the update)."""
        self.next.handle_update_validator(input)

    async def handle_update_handler(self, input: HandleUpdateInput) -> Any:
        """Runs an accepted update's handler."""
        return await self.next.handle_update_handler(input)


class WorkflowOutboundInterceptor:
    """Wraps the calls workflow code makes; every call delegates to `next` by default."""

    def __init__(self, next: WorkflowOutboundInterceptor) -> None:
        self.next = next

    def continue_as_new(self, input: ContinueAsNewInput) -> NoReturn:
        """Called for every `workflow.continue_as_new`."""
        self.next.continue_as_new(input)

    def info(self) -> Info:
        """Called for every `workflow.info()`."""
        return self.next.info()

    async def signal_child_workflow(self, input: SignalChildWorkflowInput) -> None:
        """Called for every `ChildWorkflowHandle.signal`."""
        return await self.next.signal_child_workflow(input)

    async def signal_external_workflow(self, input: SignalExternalWorkflowInput) -> None:
        """Called for every `ExternalWorkflowHandle.signal`."""
        return await self.next.signal_external_workflow(input)

    def start_activity(self, input: StartActivityInput) -> ActivityHandle[Any]:
        """Called for every `workflow.start_activity` and `workflow.execute_activity`."""
        return self.next.start_activity(input)

    async def start_child_workflow(self, input: StartChildWorkflowInput) -> ChildWorkflowHandle[Any]:
        """Called for every `workflow.start_child_workflow` and `execute_child_workflow`."""
        return await self.next.start_child_workflow(input)

    def start_local_activity(self, input: StartLocalActivityInput) -> ActivityHandle[Any]:
        """Called for every `workflow.start_local_activity` and `execute_local_activity`."""
        return self.next.start_local_activity(input)
