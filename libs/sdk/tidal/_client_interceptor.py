"""Client interceptors (temporalio.client's `Interceptor` / `OutboundInterceptor`; re-exported
by `tidal.client`).

`Client.connect(interceptors=[...])` wraps the client's calls: every interceptor's
`intercept_client(next)` returns an `OutboundInterceptor` whose methods receive the call's
`*Input`, may change it (add `headers`, rewrite arguments, count, time, refuse) and pass it on
with `await self.next.<method>(input)`. The first interceptor of the list is the outermost. The
innermost one makes the HTTP calls (`_client_calls.py`).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from ._async_activity import (
    CompleteAsyncActivityInput,
    FailAsyncActivityInput,
    HeartbeatAsyncActivityInput,
    ReportCancellationAsyncActivityInput,
)
from ._client_inputs import (
    CancelWorkflowInput,
    CountWorkflowsInput,
    DescribeWorkflowInput,
    FetchWorkflowHistoryEventsInput,
    ListWorkflowsInput,
    QueryWorkflowInput,
    SignalWorkflowInput,
    StartWorkflowInput,
    StartWorkflowUpdateInput,
    StartWorkflowUpdateWithStartInput,
    TerminateWorkflowInput,
)
from ._schedule_inputs import (
    BackfillScheduleInput,
    CreateScheduleInput,
    DeleteScheduleInput,
    DescribeScheduleInput,
    ListSchedulesInput,
    PauseScheduleInput,
    TriggerScheduleInput,
    UnpauseScheduleInput,
    UpdateScheduleInput,
)

if TYPE_CHECKING:
    from ._client_interactions import WorkflowUpdateHandle
    from ._executions import WorkflowExecutionAsyncIterator, WorkflowExecutionDescription
    from ._history_events import WorkflowHistoryEventAsyncIterator
    from ._schedule_client import ScheduleAsyncIterator, ScheduleHandle
    from ._schedules import ScheduleDescription
    from ._visibility import WorkflowExecutionCount
    from ._workflow_handle import WorkflowHandle

__all__ = ["Interceptor", "OutboundInterceptor"]


class Interceptor:
    """Base of client interceptors: override `intercept_client` to wrap the chain."""

    def intercept_client(self, next: OutboundInterceptor) -> OutboundInterceptor:
        """Return the interceptor the client calls (usually a subclass of `OutboundInterceptor`
        built on `next`); the default adds nothing."""
        return next


class OutboundInterceptor:
    """One link of the chain: each method is one client call and by default hands its input to
    `self.next` unchanged. Subclass it and override the calls you need."""

    def __init__(self, next: OutboundInterceptor) -> None:
        self.next = next

    # --- workflows ------------------------------------------------------------------------

    async def start_workflow(self, input: StartWorkflowInput) -> WorkflowHandle[Any]:
        """`Client.start_workflow` / `execute_workflow`."""
        return await self.next.start_workflow(input)

    async def cancel_workflow(self, input: CancelWorkflowInput) -> None:
        """`WorkflowHandle.cancel`."""
        await self.next.cancel_workflow(input)

    async def describe_workflow(self, input: DescribeWorkflowInput) -> WorkflowExecutionDescription:
        """`WorkflowHandle.describe`."""
        return await self.next.describe_workflow(input)

    def fetch_workflow_history_events(
        self, input: FetchWorkflowHistoryEventsInput
    ) -> WorkflowHistoryEventAsyncIterator:
        """`WorkflowHandle.fetch_history_events` (and `fetch_history`)."""
        return self.next.fetch_workflow_history_events(input)

    def list_workflows(self, input: ListWorkflowsInput) -> WorkflowExecutionAsyncIterator:
        """`Client.list_workflows`."""
        return self.next.list_workflows(input)

    async def count_workflows(self, input: CountWorkflowsInput) -> WorkflowExecutionCount:
        """`Client.count_workflows`."""
        return await self.next.count_workflows(input)

    async def query_workflow(self, input: QueryWorkflowInput) -> Any:
        """`WorkflowHandle.query`."""
        return await self.next.query_workflow(input)

    async def signal_workflow(self, input: SignalWorkflowInput) -> None:
        """`WorkflowHandle.signal`."""
        await self.next.signal_workflow(input)

    async def terminate_workflow(self, input: TerminateWorkflowInput) -> None:
        """`WorkflowHandle.terminate`."""
        await self.next.terminate_workflow(input)

    async def start_workflow_update(self, input: StartWorkflowUpdateInput) -> WorkflowUpdateHandle[Any]:
        """`WorkflowHandle.start_update` / `execute_update`."""
        return await self.next.start_workflow_update(input)

    async def start_update_with_start_workflow(
        self, input: StartWorkflowUpdateWithStartInput
    ) -> WorkflowUpdateHandle[Any]:
        """`Client.start_update_with_start_workflow` / `execute_update_with_start_workflow`."""
        return await self.next.start_update_with_start_workflow(input)

    # --- async activity completion --------------------------------------------------------

    async def heartbeat_async_activity(self, input: HeartbeatAsyncActivityInput) -> None:
        """`AsyncActivityHandle.heartbeat`."""
        await self.next.heartbeat_async_activity(input)

    async def complete_async_activity(self, input: CompleteAsyncActivityInput) -> None:
        """`AsyncActivityHandle.complete`."""
        await self.next.complete_async_activity(input)

    async def fail_async_activity(self, input: FailAsyncActivityInput) -> None:
        """`AsyncActivityHandle.fail`."""
        await self.next.fail_async_activity(input)

    async def report_cancellation_async_activity(self, input: ReportCancellationAsyncActivityInput) -> None:
        """`AsyncActivityHandle.report_cancellation`."""
        await self.next.report_cancellation_async_activity(input)

    # --- schedules ------------------------------------------------------------------------

    async def create_schedule(self, input: CreateScheduleInput) -> ScheduleHandle:
        """`Client.create_schedule`."""
        return await self.next.create_schedule(input)

    def list_schedules(self, input: ListSchedulesInput) -> ScheduleAsyncIterator:
        """`Client.list_schedules`."""
        return self.next.list_schedules(input)

    async def backfill_schedule(self, input: BackfillScheduleInput) -> None:
        """`ScheduleHandle.backfill`."""
        await self.next.backfill_schedule(input)

    async def delete_schedule(self, input: DeleteScheduleInput) -> None:
        """`ScheduleHandle.delete`."""
        await self.next.delete_schedule(input)

    async def describe_schedule(self, input: DescribeScheduleInput) -> ScheduleDescription:
        """`ScheduleHandle.describe`."""
        return await self.next.describe_schedule(input)

    async def pause_schedule(self, input: PauseScheduleInput) -> None:
        """`ScheduleHandle.pause`."""
        await self.next.pause_schedule(input)

    async def trigger_schedule(self, input: TriggerScheduleInput) -> None:
        """`ScheduleHandle.trigger`."""
        await self.next.trigger_schedule(input)

    async def unpause_schedule(self, input: UnpauseScheduleInput) -> None:
        """`ScheduleHandle.unpause`."""
        await self.next.unpause_schedule(input)

    async def update_schedule(self, input: UpdateScheduleInput) -> None:
        """`ScheduleHandle.update`."""
        await self.next.update_schedule(input)
