"""The client: start workflows and talk to running ones through the frontend's HTTP API.

Mirrors `temporalio.client` (`Client.connect`, `start_workflow`, `execute_workflow`,
`get_workflow_handle`, `WorkflowHandle.result/describe/fetch_history/signal/terminate/query/
execute_update/start_update`; queries and updates are in `_client_interactions.py`).
"""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import Callable, Mapping, Sequence
from contextlib import AbstractAsyncContextManager
from datetime import datetime, timedelta
from typing import Any, Generic, TypeVar

import httpx
from opentelemetry import propagate
from tidal_schema import Failure, HistoryEvent, Payload, WorkflowExecutionStatus
from tidal_schema.limits import MESSAGE_MAX_BYTES

from . import _client_interactions as _interactions
from . import _with_start
from ._async_activity import AsyncActivityCancelledError as AsyncActivityCancelledError
from ._async_activity import AsyncActivityHandle as AsyncActivityHandle

# Public here, as in temporalio.client (explicit re-exports).
from ._client_interactions import WorkflowQueryFailedError as WorkflowQueryFailedError
from ._client_interactions import WorkflowUpdateFailedError as WorkflowUpdateFailedError
from ._client_interactions import WorkflowUpdateHandle as WorkflowUpdateHandle
from ._client_interactions import WorkflowUpdateStage as WorkflowUpdateStage
from ._client_types import DescribeWorkflowExecutionResponse as DescribeWorkflowExecutionResponse
from ._client_types import PendingActivityInfo as PendingActivityInfo
from ._client_types import PendingActivityState as PendingActivityState
from ._client_types import PendingChildExecutionInfo as PendingChildExecutionInfo
from ._client_types import WorkflowExecutionDescription as WorkflowExecutionDescription
from ._client_types import WorkflowHistory as WorkflowHistory
from ._client_types import _signal_name, _workflow_name
from ._policies import WorkflowIDConflictPolicy, WorkflowIDReusePolicy
from ._schedule_client import ScheduleAsyncIterator as ScheduleAsyncIterator
from ._schedule_client import ScheduleHandle as ScheduleHandle
from ._schedule_client import create_schedule as _create_schedule
from ._schedule_list import ScheduleListAction as ScheduleListAction
from ._schedule_list import ScheduleListActionStartWorkflow as ScheduleListActionStartWorkflow
from ._schedule_list import ScheduleListDescription as ScheduleListDescription
from ._schedule_list import ScheduleListInfo as ScheduleListInfo
from ._schedule_list import ScheduleListSchedule as ScheduleListSchedule
from ._schedule_list import ScheduleListState as ScheduleListState
from ._schedule_spec import ScheduleCalendarSpec as ScheduleCalendarSpec
from ._schedule_spec import ScheduleIntervalSpec as ScheduleIntervalSpec
from ._schedule_spec import ScheduleRange as ScheduleRange
from ._schedule_spec import ScheduleSpec as ScheduleSpec
from ._schedules import Schedule as Schedule
from ._schedules import ScheduleAction as ScheduleAction
from ._schedules import ScheduleActionExecution as ScheduleActionExecution
from ._schedules import ScheduleActionExecutionStartWorkflow as ScheduleActionExecutionStartWorkflow
from ._schedules import ScheduleActionResult as ScheduleActionResult
from ._schedules import ScheduleActionStartWorkflow as ScheduleActionStartWorkflow
from ._schedules import ScheduleAlreadyRunningError as ScheduleAlreadyRunningError
from ._schedules import ScheduleBackfill as ScheduleBackfill
from ._schedules import ScheduleDescription as ScheduleDescription
from ._schedules import ScheduleInfo as ScheduleInfo
from ._schedules import ScheduleOverlapPolicy as ScheduleOverlapPolicy
from ._schedules import SchedulePolicy as SchedulePolicy
from ._schedules import ScheduleState as ScheduleState
from ._schedules import ScheduleUpdate as ScheduleUpdate
from ._schedules import ScheduleUpdateInput as ScheduleUpdateInput
from ._search_attributes import TypedSearchAttributes
from ._start_options import StartOptions
from ._transport import AmqpTransport, WorkerTransport
from ._visibility import (
    WorkflowExecution,
    WorkflowExecutionAsyncIterator,
    WorkflowExecutionCount,
    WorkflowExecutionCountAggregationGroup,
    count_workflows,
)
from ._with_start import WithStartWorkflowOperation as WithStartWorkflowOperation
from .common import Priority, RetryPolicy
from .converter import DataConverter
from .exceptions import (
    RPCError,
    WorkflowAlreadyStartedError,
    WorkflowFailureError,
)

__all__ = [
    "AsyncActivityCancelledError",
    "AsyncActivityHandle",
    "Client",
    "RPCError",
    "Schedule",
    "ScheduleAction",
    "ScheduleActionExecution",
    "ScheduleActionExecutionStartWorkflow",
    "ScheduleActionResult",
    "ScheduleActionStartWorkflow",
    "ScheduleAlreadyRunningError",
    "ScheduleAsyncIterator",
    "ScheduleBackfill",
    "ScheduleCalendarSpec",
    "ScheduleDescription",
    "ScheduleHandle",
    "ScheduleInfo",
    "ScheduleIntervalSpec",
    "ScheduleListAction",
    "ScheduleListActionStartWorkflow",
    "ScheduleListDescription",
    "ScheduleListInfo",
    "ScheduleListSchedule",
    "ScheduleListState",
    "ScheduleOverlapPolicy",
    "SchedulePolicy",
    "ScheduleRange",
    "ScheduleSpec",
    "ScheduleState",
    "ScheduleUpdate",
    "ScheduleUpdateInput",
    "WithStartWorkflowOperation",
    "WorkflowAlreadyStartedError",
    "WorkflowExecution",
    "WorkflowExecutionAsyncIterator",
    "WorkflowExecutionCount",
    "WorkflowExecutionCountAggregationGroup",
    "WorkflowExecutionDescription",
    "WorkflowExecutionStatus",
    "WorkflowFailureError",
    "WorkflowHandle",
    "WorkflowHistory",
    "WorkflowIDConflictPolicy",
    "WorkflowIDReusePolicy",
    "WorkflowQueryFailedError",
    "WorkflowUpdateFailedError",
    "WorkflowUpdateHandle",
    "WorkflowUpdateStage",
]

ReturnT = TypeVar("ReturnT")
# Listing types live in _visibility; named here so `from tidal.client import ...` finds them.
_VISIBILITY_TYPES = (
    WorkflowExecution,
    WorkflowExecutionAsyncIterator,
    WorkflowExecutionCount,
    WorkflowExecutionCountAggregationGroup,
)
_MISSING: Any = object()
_RESULT_POLL_SECONDS = 30.0


class Client:
    """Connect with `await Client.connect("http://127.0.0.1:7243")`."""

    def __init__(
        self,
        *,
        http: httpx.AsyncClient,
        namespace: str = "default",
        data_converter: DataConverter = DataConverter.default,
        identity: str | None = None,
        worker_transport: Callable[[], WorkerTransport] | None = None,
        rpc_retry_seconds: float = 30.0,
        amqp_url: str | None = None,
        result_wait_hook: Callable[[], AbstractAsyncContextManager[None]] | None = None,
    ) -> None:
        """`result_wait_hook`: entered around every wait for a result (`handle.result()`,
        `execute_workflow`); the time-skipping test environment passes one that moves its clock
        while someone waits. Anything that must act while a caller waits can do the same."""
        self._http = http
        self.namespace = namespace
        self.data_converter = data_converter
        self.identity = identity or f"{uuid.uuid4().hex[:8]}@client"
        self._worker_transport = worker_transport
        # How long calls keep retrying while the server answers "unavailable" (503/refused).
        self.rpc_retry_seconds = rpc_retry_seconds
        # Where workers consume; None: ask the frontend (GET /api/v1/cluster).
        self._amqp_url = amqp_url
        self._result_wait_hook = result_wait_hook

    @property
    def result_wait_hook(self) -> Callable[[], AbstractAsyncContextManager[None]] | None:
        """What the constructor's `result_wait_hook` set (None: result waits just wait)."""
        return self._result_wait_hook

    @staticmethod
    async def connect(
        target_host: str = "http://127.0.0.1:7243",
        *,
        namespace: str = "default",
        data_converter: DataConverter = DataConverter.default,
        identity: str | None = None,
        amqp_url: str | None = None,
        api_key: str | None = None,
        rpc_retry_seconds: float = 30.0,
    ) -> Client:
        base = target_host if "://" in target_host else f"http://{target_host}"
        headers = {"Authorization": f"Bearer {api_key}"} if api_key else {}
        http = httpx.AsyncClient(base_url=base, headers=headers, timeout=httpx.Timeout(90.0, connect=10.0))
        client = Client(
            http=http,
            namespace=namespace,
            data_converter=data_converter,
            identity=identity,
            rpc_retry_seconds=rpc_retry_seconds,
            amqp_url=amqp_url,
        )
        return client

    async def close(self) -> None:
        await self._http.aclose()

    # --- worker plumbing ------------------------------------------------------------------

    async def _new_worker_transport(self) -> WorkerTransport:
        if self._worker_transport is not None:
            return self._worker_transport()
        url = self._amqp_url
        info: dict[str, Any] = {}
        if url is None:
            info = await self._call("GET", "/api/v1/cluster")
            url = info.get("worker_amqp_url")
            if not url:
                raise RPCError(
                    "the server did not say which AMQP broker workers should use; pass "
                    "amqp_url= to Client.connect",
                    status="unavailable",
                )
        return AmqpTransport(url, max_message_bytes=int(info.get("max_message_bytes") or MESSAGE_MAX_BYTES))

    # --- workflows ------------------------------------------------------------------------

    async def start_workflow(
        self,
        workflow: Any,
        arg: Any = _MISSING,
        *,
        id: str,
        task_queue: str,
        args: Sequence[Any] = (),
        result_type: type | None = None,
        execution_timeout: timedelta | None = None,
        run_timeout: timedelta | None = None,
        task_timeout: timedelta | None = None,
        id_reuse_policy: WorkflowIDReusePolicy = WorkflowIDReusePolicy.ALLOW_DUPLICATE,
        id_conflict_policy: WorkflowIDConflictPolicy = WorkflowIDConflictPolicy.FAIL,
        retry_policy: RetryPolicy | None = None,
        memo: dict[str, Any] | None = None,
        search_attributes: TypedSearchAttributes | Mapping[str, Any] | None = None,
        start_delay: timedelta | None = None,
        start_signal: str | Callable[..., Any] | None = None,
        start_signal_args: Sequence[Any] = (),
        request_id: str | None = None,
        static_summary: str | None = None,
        static_details: str | None = None,
        priority: Priority = Priority.default,
    ) -> WorkflowHandle[Any]:
        """Start a run (as temporalio). With `start_signal` (a signal name) it is
        signal-with-start: a running workflow with this id is only signalled; otherwise a run
        starts with the signal recorded before its first workflow task."""
        name, ret_type = _workflow_name(workflow)
        body = await StartOptions(
            workflow_type=name,
            args=[arg] if arg is not _MISSING else list(args),
            id=id,
            task_queue=task_queue,
            execution_timeout=execution_timeout,
            run_timeout=run_timeout,
            task_timeout=task_timeout,
            id_reuse_policy=id_reuse_policy,
            id_conflict_policy=id_conflict_policy,
            retry_policy=retry_policy,
            memo=memo,
            search_attributes=search_attributes,
            start_delay=start_delay,
            request_id=request_id,
            static_summary=static_summary,
            static_details=static_details,
            priority=priority,
        ).body(self.data_converter)
        if start_signal is not None:
            signal_input = await self.data_converter.encode(list(start_signal_args))
            body["start_signal"] = {
                "name": _signal_name(start_signal),
                "input": [p.model_dump(mode="json") for p in signal_input],
            }
        try:
            reply = await self._call("POST", self._wf_path(), json=body)
        except RPCError as exc:
            if exc.status == "already_started":
                raise WorkflowAlreadyStartedError(id, name, run_id=exc.run_id) from exc
            raise
        return WorkflowHandle(
            self,
            id,
            run_id=reply["run_id"],
            result_run_id=reply["run_id"],
            first_execution_run_id=reply["run_id"],
            result_type=result_type or ret_type,
        )

    async def execute_workflow(self, workflow: Any, arg: Any = _MISSING, **kwargs: Any) -> Any:
        handle = await self.start_workflow(workflow, arg, **kwargs)
        return await handle.result()

    async def start_update_with_start_workflow(
        self,
        update: Any,
        arg: Any = _MISSING,
        *,
        start_workflow_operation: WithStartWorkflowOperation[Any],
        wait_for_stage: WorkflowUpdateStage,
        args: Sequence[Any] = (),
        id: str | None = None,
        result_type: type | None = None,
        rpc_timeout: timedelta | None = None,
    ) -> WorkflowUpdateHandle[Any]:
        """Start the workflow and send it an update in one transaction (or, with
        `id_conflict_policy=USE_EXISTING`, update the running run), as temporalio's method."""
        values = [arg] if arg is not _MISSING else list(args)
        return await _with_start.start_update_with_start(
            self,
            update,
            values,
            start_workflow_operation=start_workflow_operation,
            wait_for_stage=wait_for_stage,
            id=id,
            result_type=result_type,
            rpc_timeout=rpc_timeout,
        )

    async def execute_update_with_start_workflow(
        self,
        update: Any,
        arg: Any = _MISSING,
        *,
        start_workflow_operation: WithStartWorkflowOperation[Any],
        args: Sequence[Any] = (),
        id: str | None = None,
        result_type: type | None = None,
        rpc_timeout: timedelta | None = None,
    ) -> Any:
        """`start_update_with_start_workflow` waiting for the update's result."""
        handle = await self.start_update_with_start_workflow(
            update,
            arg,
            start_workflow_operation=start_workflow_operation,
            wait_for_stage=WorkflowUpdateStage.COMPLETED,
            args=args,
            id=id,
            result_type=result_type,
            rpc_timeout=rpc_timeout,
        )
        return await handle.result()

    def get_workflow_handle(
        self,
        workflow_id: str,
        *,
        run_id: str | None = None,
        first_execution_run_id: str | None = None,
        result_type: type | None = None,
    ) -> WorkflowHandle[Any]:
        return WorkflowHandle(
            self,
            workflow_id,
            run_id=run_id,
            result_run_id=run_id,
            first_execution_run_id=first_execution_run_id,
            result_type=result_type,
        )

    def get_workflow_handle_for(
        self,
        workflow: Any,
        workflow_id: str,
        *,
        run_id: str | None = None,
        first_execution_run_id: str | None = None,
    ) -> WorkflowHandle[Any]:
        _, ret_type = _workflow_name(workflow)
        return self.get_workflow_handle(
            workflow_id, run_id=run_id, first_execution_run_id=first_execution_run_id, result_type=ret_type
        )

    def get_async_activity_handle(self, *, task_token: bytes) -> AsyncActivityHandle:
        """The attempt named by `activity.info().task_token` (temporalio also accepts workflow id,
        run id and activity id; Tidal only the token)."""
        return AsyncActivityHandle(
            call=self._call, converter=self.data_converter, identity=self.identity, task_token=task_token
        )

    # --- visibility (docs/visibility.md) --------------------------------------------------

    def list_workflows(
        self,
        query: str | None = None,
        *,
        limit: int | None = None,
        page_size: int = 1000,
        next_page_token: str | None = None,
    ) -> WorkflowExecutionAsyncIterator:
        """Runs matching `query` (all runs when None), newest first unless it says
        `ORDER BY StartTime ASC`: `async for wf in client.list_workflows("WorkflowType = 'X'")`."""
        return WorkflowExecutionAsyncIterator(
            self, query or "", page_size=page_size, limit=limit, next_page_token=next_page_token
        )

    async def count_workflows(self, query: str | None = None) -> WorkflowExecutionCount:
        return await count_workflows(self, query or "")

    # --- schedules (docs/schedules.md; the calls are in _schedule_client.py) --------------

    async def create_schedule(
        self,
        id: str,
        schedule: Schedule,
        *,
        trigger_immediately: bool = False,
        backfill: Sequence[ScheduleBackfill] = (),
        memo: Mapping[str, Any] | None = None,
        search_attributes: Mapping[str, Any] | None = None,
    ) -> ScheduleHandle:
        """Create a schedule; ScheduleAlreadyRunningError if the id is taken."""
        return await _create_schedule(
            self,
            id,
            schedule,
            trigger_immediately=trigger_immediately,
            backfill=backfill,
            memo=memo,
            search_attributes=search_attributes,
        )

    def get_schedule_handle(self, id: str) -> ScheduleHandle:
        return ScheduleHandle(self, id)

    async def list_schedules(
        self, query: str | None = None, *, page_size: int = 1000, next_page_token: bytes | None = None
    ) -> ScheduleAsyncIterator:
        """Every schedule of the namespace, ordered by id (no filter query yet)."""
        if query:
            raise ValueError("list_schedules does not take a query yet: list all and filter")
        return ScheduleAsyncIterator(self, page_size=page_size, next_page_token=next_page_token)

    # --- HTTP -----------------------------------------------------------------------------

    def _wf_path(self, workflow_id: str | None = None, suffix: str = "") -> str:
        base = f"/api/v1/namespaces/{self.namespace}/workflows"
        if workflow_id is None:
            return base
        return f"{base}/{httpx.URL(path=workflow_id).raw_path.decode()}{suffix}"

    async def _call(self, method: str, path: str, **kwargs: Any) -> dict[str, Any]:
        """One API call. A server that is starting or briefly without a history shard answers
        503, and a frontend that is not listening yet refuses the connection: both are retried
        with backoff until `rpc_retry_seconds` runs out, as temporalio retries UNAVAILABLE.
        Retrying is safe because every write carries a request id."""
        deadline = time.monotonic() + self.rpc_retry_seconds
        delay = 0.05
        while True:
            try:
                return await self._call_once(method, path, **kwargs)
            except RPCError as exc:
                if exc.status != "unavailable" or time.monotonic() + delay > deadline:
                    raise
            await asyncio.sleep(delay)
            delay = min(delay * 2, 2.0)

    async def _call_once(self, method: str, path: str, **kwargs: Any) -> dict[str, Any]:
        # The caller's trace (if any) continues through the server: W3C traceparent header.
        carrier: dict[str, str] = {}
        propagate.inject(carrier)
        if carrier:
            kwargs["headers"] = {**carrier, **kwargs.get("headers", {})}
        try:
            resp = await self._http.request(method, path, **kwargs)
        except httpx.ConnectError as exc:  # nothing was sent: always safe to retry
            raise RPCError(
                f"cannot reach the Tidal frontend at {self._http.base_url}: {exc}; is the server "
                "running? (`make dev` or `tidal-server dev` starts one)",
                status="unavailable",
            ) from exc
        except httpx.HTTPError as exc:
            raise RPCError(
                f"call to the Tidal frontend at {self._http.base_url} failed: {exc}", status="internal"
            ) from exc
        if resp.status_code >= 400:
            try:
                problem = resp.json()
            except ValueError:
                problem = {"detail": resp.text}
            err = RPCError(
                str(problem.get("detail") or problem.get("title") or resp.reason_phrase),
                status=str(problem.get("code", "internal")),
                code=resp.status_code,
                run_id=problem.get("run_id"),
                problem=problem,
            )
            raise err
        data: dict[str, Any] = resp.json() if resp.content else {}
        return data


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
        hook = self._client.result_wait_hook
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
                Failure.model_validate(data["failure"])
                if data.get("failure")
                else Failure(
                    message=f"workflow {status.value.lower()}", kind=_KIND.get(status, "application")
                )
            )
            # Through the client's failure converter (and codec), as temporalio does.
            raise WorkflowFailureError(cause=await c.data_converter.decode_failure(failure))

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
