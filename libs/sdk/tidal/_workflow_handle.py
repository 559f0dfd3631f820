"""`WorkflowHandle` (re-exported by `tidal.client`): one workflow by id (and run id): result,
describe, history, signal, cancel, terminate, query and update."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import timedelta
from typing import TYPE_CHECKING, Any, Generic, TypeVar

from tidal_schema import Failure, Payload, WorkflowExecutionStatus

from . import _client_interactions as _interactions
from ._client_errors import WorkflowContinuedAsNewError
from ._client_inputs import (
    CancelWorkflowInput,
    DescribeWorkflowInput,
    FetchWorkflowHistoryEventsInput,
    QueryWorkflowInput,
    SignalWorkflowInput,
    StartWorkflowUpdateInput,
    TerminateWorkflowInput,
)
from ._client_interactions import WorkflowUpdateHandle, WorkflowUpdateStage
from ._client_types import WorkflowHistory, _signal_name
from ._executions import WorkflowExecutionDescription
from ._history_events import WorkflowHistoryEventAsyncIterator, WorkflowHistoryEventFilterType
from ._policies import QueryRejectCondition
from .exceptions import WorkflowFailureError

if TYPE_CHECKING:
    from ._client import Client

__all__ = ["RESULT_POLL_SECONDS", "WorkflowHandle"]

ReturnT = TypeVar("ReturnT")
_MISSING: Any = object()
RESULT_POLL_SECONDS = 30.0
"""The `wait` of each result long poll (and of a start that waits for its result)."""


class WorkflowHandle(Generic[ReturnT]):
    def __init__(
        self,
        client: Client,
        id: str,
        *,
        run_id: str | None = None,
        result_run_id: str | None = None,
        first_execution_run_id: str | None = None,
        result_type: type | None = None,
    ) -> None:
        self._client = client
        self.id = id
        self.run_id = run_id
        self.result_run_id = result_run_id
        # The run that started the chain (continue-as-new, retries), as temporalio's handle
        # carries it. Recorded only: cancel/terminate do not check it against the server yet.
        self.first_execution_run_id = first_execution_run_id
        self._result_type = result_type
        # The first result poll's answer, when the start waited for it (execute_workflow): the
        # next `result()` takes it instead of sending that poll.
        self._polled: dict[str, Any] | None = None

    async def result(self, *, follow_runs: bool = True) -> ReturnT:
        """The workflow's result. With `follow_runs` (the default, as in temporalio) a run that
        continued as new is followed to the run that finally closes."""
        # The time-skipping test environment skips time while someone waits for a result.
        hook = self._client.result_wait_hook
        if hook is None:
            return await self._result(follow_runs)
        async with hook():
            return await self._result(follow_runs)

    async def _result(self, follow_runs: bool) -> ReturnT:
        c = self._client
        run_id = self.run_id
        polled, self._polled = self._polled, None
        while True:
            if polled is not None and polled.get("run_id") == run_id:
                data, polled = polled, None
            else:
                params: dict[str, Any] = {"wait": RESULT_POLL_SECONDS}
                if run_id:
                    params["run_id"] = run_id
                data = await c._call("GET", c._wf_path(self.id, "/result"), params=params)
            status = WorkflowExecutionStatus(data["status"])
            if status is WorkflowExecutionStatus.RUNNING:
                continue
            # Continued as new, or failed and retried by its retry policy: the chain goes on.
            if follow_runs and data.get("new_run_id"):
                run_id = data["new_run_id"]
                continue
            if status is WorkflowExecutionStatus.CONTINUED_AS_NEW:
                raise WorkflowContinuedAsNewError(str(data.get("new_run_id") or ""))
            if status is WorkflowExecutionStatus.COMPLETED:
                payloads = [Payload.model_validate(p) for p in data.get("result") or []]
                if not payloads:
                    return None  # type: ignore[return-value]
                decoded = await c.data_converter.decode(payloads[:1], [self._result_type])
                value: ReturnT = decoded[0]
                return value
            failure = (
                Failure.model_validate(data["failure"])
                if data.get("failure")
                else Failure(
                    message=f"workflow {status.value.lower()}", kind=_KIND.get(status, "application")
                )
            )
            # Through the client's failure converter (and codec), as temporalio does.
            raise WorkflowFailureError(cause=await c.data_converter.decode_failure(failure))

    async def describe(self) -> WorkflowExecutionDescription:
        return await self._client._impl.describe_workflow(
            DescribeWorkflowInput(self.id, self.run_id, {}, None)
        )

    def fetch_history_events(
        self,
        *,
        page_size: int | None = None,
        next_page_token: bytes | None = None,
        wait_new_event: bool = False,
        event_filter_type: WorkflowHistoryEventFilterType = WorkflowHistoryEventFilterType.ALL_EVENT,
        skip_archival: bool = False,
    ) -> WorkflowHistoryEventAsyncIterator:
        """The run's events, a page at a time (`async for event in ...`). With
        `event_filter_type=CLOSE_EVENT` only the closing event; add `wait_new_event=True` to
        wait for it. `skip_archival` is accepted and ignored: Tidal does not archive."""
        return self._client._impl.fetch_workflow_history_events(
            FetchWorkflowHistoryEventsInput(
                self.id,
                self.run_id,
                page_size,
                next_page_token,
                wait_new_event,
                event_filter_type,
                skip_archival,
                {},
                None,
            )
        )

    async def fetch_history(
        self,
        *,
        event_filter_type: WorkflowHistoryEventFilterType = WorkflowHistoryEventFilterType.ALL_EVENT,
        skip_archival: bool = False,
    ) -> WorkflowHistory:
        """Every event of the run (`fetch_history_events` collected)."""
        events = self.fetch_history_events(event_filter_type=event_filter_type, skip_archival=skip_archival)
        collected = [e async for e in events]
        return WorkflowHistory(self.id, collected, run_id=events.run_id or self.run_id)

    async def signal(self, signal: Any, arg: Any = _MISSING, *, args: Sequence[Any] = ()) -> None:
        values = [arg] if arg is not _MISSING else list(args)
        await self._client._impl.signal_workflow(
            SignalWorkflowInput(self.id, self.run_id, _signal_name(signal), values, {}, {}, None)
        )

    async def cancel(self, *, reason: str = "") -> None:
        """Ask the workflow to cancel (as temporalio's `WorkflowHandle.cancel`): its code sees
        `asyncio.CancelledError` (and `workflow.cancellation_reason()`), may run cleanup, and
        decides how the run ends."""
        await self._client._impl.cancel_workflow(
            CancelWorkflowInput(self.id, self.run_id, self.first_execution_run_id, reason, {}, None)
        )

    async def query(
        self,
        query: Any,
        arg: Any = _MISSING,
        *,
        args: Sequence[Any] = (),
        result_type: type | None = None,
        reject_condition: QueryRejectCondition | None = None,
        rpc_timeout: timedelta | None = None,
    ) -> Any:
        """Run a `@workflow.query` handler on a worker and return its result (as temporalio's
        `WorkflowHandle.query`). Nothing is written to history; closed runs can be queried too,
        unless `reject_condition` (default: the client's) says otherwise, which raises
        WorkflowQueryRejectedError. Raises WorkflowQueryFailedError, or RPCError (`not_found`,
        `deadline_exceeded` when no worker answers within `rpc_timeout`, default the server's
        request timeout)."""
        name, hint = _interactions.query_name(query)
        values = [arg] if arg is not _MISSING else list(args)
        condition = reject_condition or self._client.default_workflow_query_reject_condition
        return await self._client._impl.query_workflow(
            QueryWorkflowInput(
                self.id, self.run_id, name, values, condition, {}, result_type or hint, {}, rpc_timeout
            )
        )

    async def execute_update(
        self,
        update: Any,
        arg: Any = _MISSING,
        *,
        args: Sequence[Any] = (),
        id: str | None = None,
        result_type: type | None = None,
        rpc_timeout: timedelta | None = None,
    ) -> Any:
        """Send an update and wait for its result (as temporalio's `execute_update`)."""
        handle = await self.start_update(
            update,
            arg,
            args=args,
            id=id,
            result_type=result_type,
            wait_for_stage=WorkflowUpdateStage.COMPLETED,
            rpc_timeout=rpc_timeout,
        )
        return await handle.result()

    async def start_update(
        self,
        update: Any,
        arg: Any = _MISSING,
        *,
        wait_for_stage: WorkflowUpdateStage,
        args: Sequence[Any] = (),
        id: str | None = None,
        result_type: type | None = None,
        rpc_timeout: timedelta | None = None,
    ) -> WorkflowUpdateHandle[Any]:
        """Send an update and wait until it is ACCEPTED (or COMPLETED). Raises
        WorkflowUpdateFailedError at once if it is rejected. `id` deduplicates: sending the same
        id again waits for the same update instead of running it twice."""
        name, hint = _interactions._update_name(update)
        values = [arg] if arg is not _MISSING else list(args)
        return await self._client._impl.start_workflow_update(
            StartWorkflowUpdateInput(
                self.id,
                self.run_id,
                self.first_execution_run_id,
                id,
                name,
                values,
                wait_for_stage,
                {},
                result_type or hint,
                {},
                rpc_timeout,
            )
        )

    def get_update_handle(
        self, id: str, *, workflow_run_id: str | None = None, result_type: type | None = None
    ) -> WorkflowUpdateHandle[Any]:
        return WorkflowUpdateHandle(
            self._client, id, self.id, workflow_run_id=workflow_run_id or self.run_id, result_type=result_type
        )

    def get_update_handle_for(
        self, update: Any, id: str, *, workflow_run_id: str | None = None
    ) -> WorkflowUpdateHandle[Any]:
        """`get_update_handle` with the result type taken from the `@workflow.update` method."""
        _, hint = _interactions._update_name(update)
        return self.get_update_handle(id, workflow_run_id=workflow_run_id, result_type=hint)

    async def terminate(self, *args: Any, reason: str | None = None) -> None:
        """End the run now, no cleanup code (as temporalio's): `args` are recorded as the
        WorkflowExecutionTerminated event's details, `reason` as its reason."""
        await self._client._impl.terminate_workflow(
            TerminateWorkflowInput(self.id, self.run_id, self.first_execution_run_id, args, reason, {}, None)
        )


_KIND = {
    WorkflowExecutionStatus.TERMINATED: "terminated",
    WorkflowExecutionStatus.CANCELED: "canceled",
    WorkflowExecutionStatus.TIMED_OUT: "timeout",
}
