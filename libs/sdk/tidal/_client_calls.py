"""The innermost link of the client interceptor chain: each `*Input` becomes one call of the
frontend's HTTP API (docs/api.md). `Client` and `WorkflowHandle` only build inputs."""

from __future__ import annotations

import uuid
from contextvars import ContextVar
from typing import TYPE_CHECKING, Any

import httpx

from . import _async_activity, _with_start
from . import _client_interactions as _interactions
from . import _schedule_client as _schedules
from ._async_activity import (
    CompleteAsyncActivityInput,
    FailAsyncActivityInput,
    HeartbeatAsyncActivityInput,
    ReportCancellationAsyncActivityInput,
)
from ._call_options import http_options, wire_header
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
from ._client_interactions import WorkflowUpdateHandle
from ._client_interceptor import OutboundInterceptor
from ._eager_start import eager_slot, hand_over
from ._executions import WorkflowExecutionAsyncIterator, WorkflowExecutionDescription
from ._history_events import WorkflowHistoryEventAsyncIterator
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
from ._schedules import ScheduleDescription
from ._start_options import StartOptions
from ._visibility import WorkflowExecutionCount, count_workflows
from ._workflow_handle import RESULT_POLL_SECONDS, WorkflowHandle
from .exceptions import RPCError, WorkflowAlreadyStartedError

if TYPE_CHECKING:
    from ._client import Client
    from ._schedule_client import ScheduleAsyncIterator, ScheduleHandle

__all__ = ["WAIT_FOR_RESULT", "ClientCalls"]

WAIT_FOR_RESULT: ContextVar[bool] = ContextVar("tidal_wait_for_result", default=False)
"""Set by `Client.execute_workflow` around its start: the start asks the frontend to wait for the
result too (`wait_for_result`), and the handle's first `result()` takes that answer instead of a
poll of its own: one request per workflow instead of two. A context variable, not an input field,
so that the interceptors' `StartWorkflowInput` stays temporalio's."""


class ClientCalls(OutboundInterceptor):
    """Makes the calls; `next` is unused (nothing comes after it)."""

    def __init__(self, client: Client) -> None:
        self._client = client

    # --- workflows ------------------------------------------------------------------------

    async def start_workflow(self, input: StartWorkflowInput) -> WorkflowHandle[Any]:
        c = self._client
        body = await StartOptions(
            workflow_type=input.workflow,
            args=list(input.args),
            id=input.id,
            task_queue=input.task_queue,
            execution_timeout=input.execution_timeout,
            run_timeout=input.run_timeout,
            task_timeout=input.task_timeout,
            id_reuse_policy=input.id_reuse_policy,
            id_conflict_policy=input.id_conflict_policy,
            retry_policy=input.retry_policy,
            memo=input.memo,
            search_attributes=input.search_attributes,
            start_delay=input.start_delay,
            request_id=input.request_id,
            static_summary=input.static_summary,
            static_details=input.static_details,
            priority=input.priority,
            header=input.headers,
        ).body(c.data_converter)
        if input.cron_schedule:
            body["cron_schedule"] = input.cron_schedule
        if input.start_signal is not None:
            signal_input = await c.data_converter.encode(list(input.start_signal_args))
            body["start_signal"] = {
                "name": input.start_signal,
                "input": [p.model_dump(mode="json") for p in signal_input],
            }
        slot = eager_slot(c, input)
        if slot is not None:
            body["request_eager_execution"] = True
        # Not with an eager start (its task must reach the worker at once; the frontend would not
        # wait anyway) nor with a caller's rpc_timeout (which a 30 s wait could outlast, failing a
        # start that succeeded).
        wait = slot is None and input.rpc_timeout is None and WAIT_FOR_RESULT.get()
        if wait:
            body["wait_for_result"] = RESULT_POLL_SECONDS
        try:
            reply = await _post_start(c, body, http_options(input.rpc_metadata, input.rpc_timeout))
        except RPCError as exc:
            if slot is not None:
                slot.release()
            if exc.status == "already_started":
                raise WorkflowAlreadyStartedError(
                    input.id, input.workflow, run_id=exc.run_id, first_run_id=exc.problem.get("first_run_id")
                ) from exc
            raise
        except BaseException:
            if slot is not None:
                slot.release()
            raise
        if slot is not None:
            await hand_over(slot, reply.get("eager_workflow_task"))
        handle: WorkflowHandle[Any] = WorkflowHandle(
            c,
            input.id,
            run_id=reply["run_id"],
            result_run_id=reply["run_id"],
            first_execution_run_id=reply["run_id"],
            result_type=input.ret_type,
        )
        if wait and isinstance(reply.get("result"), dict):
            handle._polled = reply["result"]
        return handle

    async def cancel_workflow(self, input: CancelWorkflowInput) -> None:
        c = self._client
        body = {"request_id": str(uuid.uuid4()), "identity": c.identity}
        if input.reason:
            body["reason"] = input.reason
        if input.run_id:
            body["run_id"] = input.run_id
        opts = http_options(input.rpc_metadata, input.rpc_timeout)
        await c._call("POST", c._wf_path(input.id, "/cancel"), json=body, **opts)

    async def describe_workflow(self, input: DescribeWorkflowInput) -> WorkflowExecutionDescription:
        c = self._client
        params = {"run_id": input.run_id} if input.run_id else {}
        opts = http_options(input.rpc_metadata, input.rpc_timeout)
        d = await c._call("GET", c._wf_path(input.id), params=params, **opts)
        return WorkflowExecutionDescription.from_json(
            d, namespace=c.namespace, data_converter=c.data_converter
        )

    def fetch_workflow_history_events(
        self, input: FetchWorkflowHistoryEventsInput
    ) -> WorkflowHistoryEventAsyncIterator:
        return WorkflowHistoryEventAsyncIterator(self._client, input)

    def list_workflows(self, input: ListWorkflowsInput) -> WorkflowExecutionAsyncIterator:
        token = input.next_page_token.decode() if input.next_page_token else None
        return WorkflowExecutionAsyncIterator(
            self._client,
            input.query or "",
            page_size=input.page_size,
            limit=input.limit,
            next_page_token=token,
        )

    async def count_workflows(self, input: CountWorkflowsInput) -> WorkflowExecutionCount:
        return await count_workflows(self._client, input.query or "")

    async def query_workflow(self, input: QueryWorkflowInput) -> Any:
        return await _interactions.query(self._client, input)

    async def signal_workflow(self, input: SignalWorkflowInput) -> None:
        c = self._client
        body: dict[str, Any] = {
            "signal_name": input.signal,
            "request_id": str(uuid.uuid4()),
            "input": [p.model_dump(mode="json") for p in await c.data_converter.encode(list(input.args))],
        }
        if input.headers:
            body["header"] = wire_header(input.headers)
        if input.run_id:
            body["run_id"] = input.run_id
        opts = http_options(input.rpc_metadata, input.rpc_timeout)
        await c._call("POST", c._wf_path(input.id, "/signal"), json=body, **opts)

    async def terminate_workflow(self, input: TerminateWorkflowInput) -> None:
        c = self._client
        body: dict[str, Any] = {"reason": input.reason or "", "identity": c.identity}
        if input.args:
            details = await c.data_converter.encode(list(input.args))
            body["details"] = [p.model_dump(mode="json") for p in details]
        if input.run_id:
            body["run_id"] = input.run_id
        opts = http_options(input.rpc_metadata, input.rpc_timeout)
        await c._call("POST", c._wf_path(input.id, "/terminate"), json=body, **opts)

    async def start_workflow_update(self, input: StartWorkflowUpdateInput) -> WorkflowUpdateHandle[Any]:
        return await _interactions.start_update(self._client, input)

    async def start_update_with_start_workflow(
        self, input: StartWorkflowUpdateWithStartInput
    ) -> WorkflowUpdateHandle[Any]:
        return await _with_start.start_update_with_start(self._client, input)

    # --- async activity completion --------------------------------------------------------

    async def heartbeat_async_activity(self, input: HeartbeatAsyncActivityInput) -> None:
        await _async_activity.heartbeat(self._client, input)

    async def complete_async_activity(self, input: CompleteAsyncActivityInput) -> None:
        await _async_activity.complete(self._client, input)

    async def fail_async_activity(self, input: FailAsyncActivityInput) -> None:
        await _async_activity.fail(self._client, input)

    async def report_cancellation_async_activity(self, input: ReportCancellationAsyncActivityInput) -> None:
        await _async_activity.report_cancellation(self._client, input)

    # --- schedules ------------------------------------------------------------------------

    async def create_schedule(self, input: CreateScheduleInput) -> ScheduleHandle:
        return await _schedules.create_schedule(self._client, input)

    def list_schedules(self, input: ListSchedulesInput) -> ScheduleAsyncIterator:
        return _schedules.ScheduleAsyncIterator(
            self._client,
            page_size=input.page_size,
            next_page_token=input.next_page_token,
            query=input.query,
        )

    async def backfill_schedule(self, input: BackfillScheduleInput) -> None:
        await _schedules.backfill(self._client, input)

    async def delete_schedule(self, input: DeleteScheduleInput) -> None:
        await _schedules.delete(self._client, input)

    async def describe_schedule(self, input: DescribeScheduleInput) -> ScheduleDescription:
        return await _schedules.describe(self._client, input)

    async def pause_schedule(self, input: PauseScheduleInput) -> None:
        await _schedules.pause(self._client, input)

    async def trigger_schedule(self, input: TriggerScheduleInput) -> None:
        await _schedules.trigger(self._client, input)

    async def unpause_schedule(self, input: UnpauseScheduleInput) -> None:
        await _schedules.unpause(self._client, input)

    async def update_schedule(self, input: UpdateScheduleInput) -> None:
        await _schedules.update(self._client, input)


async def _post_start(c: Client, body: dict[str, Any], options: dict[str, Any]) -> dict[str, Any]:
    """The start call. A frontend older than `wait_for_result` refuses the field (400, before
    anything starts): the start is sent again without it. A connection cut or timed out while
    the start waits for its result (a frontend restarting, a proxy's idle timeout: the wait is
    long, the start committed long before it) is sent again without the wait too, with the same
    request id, which history answers with the run it started, never a second one; the handle
    then polls the result."""
    try:
        return await c._call("POST", c._wf_path(), json=body, **options)
    except RPCError as exc:
        if "wait_for_result" not in body or not (
            (exc.status == "invalid_argument" and "wait_for_result" in str(exc)) or _cut(exc)
        ):
            raise
    plain = {k: v for k, v in body.items() if k != "wait_for_result"}
    return await c._call("POST", c._wf_path(), json=plain, **options)


def _cut(exc: RPCError) -> bool:
    """The call was sent and no answer came (the connection cut, or the HTTP client's timeout)."""
    cause = exc.__cause__
    return isinstance(cause, httpx.TransportError) and not isinstance(cause, httpx.ConnectError)
