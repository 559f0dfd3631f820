"""`WorkflowHandle` (re-exported by `tidal.client`): one workflow by id (and run id): result,
describe, history, signal, cancel, terminate, query and update."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any, Generic, TypeVar

from tidal_schema import Failure, HistoryEvent, Payload, WorkflowExecutionStatus

from . import _client_interactions as _interactions
from ._client_interactions import WorkflowUpdateHandle, WorkflowUpdateStage
from ._client_types import WorkflowExecutionDescription, WorkflowHistory, _signal_name
from .exceptions import WorkflowFailureError, failure_to_error

if TYPE_CHECKING:
    from ._client import Client

__all__ = ["WorkflowHandle"]

ReturnT = TypeVar("ReturnT")
_MISSING: Any = object()
_RESULT_POLL_SECONDS = 30.0


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

    def _params(self, **extra: Any) -> dict[str, Any]:
        params = {k: v for k, v in extra.items() if v is not None}
        if self.run_id:
            params["run_id"] = self.run_id
        return params

    async def result(self, *, follow_runs: bool = True) -> ReturnT:
        """The workflow's result. With `follow_runs` (the default, as in temporalio) a run that
        continued as new is followed to the run that finally closes."""
        # The time-skipping test environment skips time while someone waits for a result.
        hook = self._client._result_wait_hook
        if hook is None:
            return await self._result(follow_runs)
        async with hook():
            return await self._result(follow_runs)

    async def _result(self, follow_runs: bool) -> ReturnT:
        c = self._client
        run_id = self.run_id
        while True:
            params: dict[str, Any] = {"wait": _RESULT_POLL_SECONDS}
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
            if status is WorkflowExecutionStatus.COMPLETED:
                payloads = [Payload.model_validate(p) for p in data.get("result") or []]
                if not payloads:
                    return None  # type: ignore[return-value]
                decoded = await c.data_converter.decode(payloads[:1], [self._result_type])
                value: ReturnT = decoded[0]
                return value
            failure = (
                await c.data_converter.decode_failure(Failure.model_validate(data["failure"]))
                if data.get("failure")
                else Failure(
                    message=f"workflow {status.value.lower()}", kind=_KIND.get(status, "application")
                )
            )
            raise WorkflowFailureError(cause=failure_to_error(failure))

    async def describe(self) -> WorkflowExecutionDescription:
        c = self._client
        d = await c._call("GET", c._wf_path(self.id), params=self._params())
        return WorkflowExecutionDescription(
            id=d["workflow_id"],
            run_id=d["run_id"],
            workflow_type=d["workflow_type"],
            task_queue=d["task_queue"],
            status=WorkflowExecutionStatus(d["status"]),
            start_time=datetime.fromisoformat(d["start_time"]),
            close_time=datetime.fromisoformat(d["close_time"]) if d.get("close_time") else None,
            history_length=int(d.get("history_length", 0)),
            raw=d,
            execution_time=datetime.fromisoformat(d["execution_time"]) if d.get("execution_time") else None,
            namespace=d.get("namespace") or "",
            parent_id=d.get("parent_workflow_id"),
            parent_run_id=d.get("parent_run_id"),
            root_id=d.get("root_workflow_id"),
            root_run_id=d.get("root_run_id"),
            search_attributes=dict(d.get("search_attributes") or {}),
        )

    async def fetch_history(self) -> WorkflowHistory:
        c = self._client
        events: list[HistoryEvent] = []
        token: str | None = None
        while True:
            data = await c._call(
                "GET",
                c._wf_path(self.id, "/history"),
                params=self._params(page_size=1000, next_page_token=token),
            )
            events.extend(HistoryEvent.model_validate(e) for e in data["events"])
            token = data.get("next_page_token")
            if not token:
                return WorkflowHistory(self.id, events, run_id=data.get("run_id") or self.run_id)

    async def signal(self, signal: Any, arg: Any = _MISSING, *, args: Sequence[Any] = ()) -> None:
        c = self._client
        name = _signal_name(signal)
        values = [arg] if arg is not _MISSING else list(args)
        body = {
            "signal_name": name,
            "request_id": str(uuid.uuid4()),
            "input": [p.model_dump(mode="json") for p in await c.data_converter.encode(values)],
        }
        if self.run_id:
            body["run_id"] = self.run_id
        await c._call("POST", c._wf_path(self.id, "/signal"), json=body)

    async def cancel(self, *, reason: str = "") -> None:
        """Ask the workflow to cancel (as temporalio's `WorkflowHandle.cancel`): its code sees
        `asyncio.CancelledError` (and `workflow.cancellation_reason()`), may run cleanup, and
        decides how the run ends."""
        c = self._client
        body = {"request_id": str(uuid.uuid4()), "identity": c.identity}
        if reason:
            body["reason"] = reason
        if self.run_id:
            body["run_id"] = self.run_id
        await c._call("POST", c._wf_path(self.id, "/cancel"), json=body)

    async def query(
        self,
        query: Any,
        arg: Any = _MISSING,
        *,
        args: Sequence[Any] = (),
        result_type: type | None = None,
        rpc_timeout: timedelta | None = None,
    ) -> Any:
        """Run a `@workflow.query` handler on a worker and return its result (as temporalio's
        `WorkflowHandle.query`). Nothing is written to history; closed runs can be queried too.
        Raises WorkflowQueryFailedError, or RPCError (`not_found`, `deadline_exceeded` when no
        worker answers within `rpc_timeout`, default the server's request timeout)."""
        values = [arg] if arg is not _MISSING else list(args)
        return await _interactions.query(self, query, values, result_type, rpc_timeout)

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
        values = [arg] if arg is not _MISSING else list(args)
        return await _interactions.start_update(
            self, update, values, wait_for_stage, id=id, result_type=result_type, rpc_timeout=rpc_timeout
        )

    def get_update_handle(
        self, id: str, *, workflow_run_id: str | None = None, result_type: type | None = None
    ) -> WorkflowUpdateHandle[Any]:
        return WorkflowUpdateHandle(
            self._client, id, self.id, workflow_run_id=workflow_run_id or self.run_id, result_type=result_type
        )

    async def terminate(self, reason: str | None = None) -> None:
        c = self._client
        body = {"reason": reason or ""}
        if self.run_id:
            body["run_id"] = self.run_id
        await c._call("POST", c._wf_path(self.id, "/terminate"), json=body)


_KIND = {
    WorkflowExecutionStatus.TERMINATED: "terminated",
    WorkflowExecutionStatus.CANCELED: "canceled",
    WorkflowExecutionStatus.TIMED_OUT: "timeout",
}
