"""`Client` (re-exported by `tidal.client`): connects to the frontend's HTTP API, starts
workflows, lists and counts runs, creates schedules; `WorkflowHandle` (in `_workflow_handle.py`)
talks to one workflow."""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import Callable, Mapping, Sequence
from contextlib import AbstractAsyncContextManager
from datetime import timedelta
from typing import Any

import httpx
from opentelemetry import propagate
from tidal_schema.limits import MESSAGE_MAX_BYTES

from . import _with_start
from ._async_activity import AsyncActivityHandle
from ._client_interactions import WorkflowUpdateHandle, WorkflowUpdateStage
from ._client_types import _signal_name, _workflow_name
from ._policies import WorkflowIDConflictPolicy, WorkflowIDReusePolicy
from ._schedule_client import ScheduleAsyncIterator, ScheduleHandle
from ._schedule_client import create_schedule as _create_schedule
from ._schedules import Schedule, ScheduleBackfill
from ._search_attributes import TypedSearchAttributes
from ._start_options import StartOptions
from ._transport import AmqpTransport, WorkerTransport
from ._visibility import WorkflowExecutionAsyncIterator, WorkflowExecutionCount, count_workflows
from ._with_start import WithStartWorkflowOperation
from ._workflow_handle import WorkflowHandle
from .common import Priority, RetryPolicy
from .converter import DataConverter
from .exceptions import RPCError, WorkflowAlreadyStartedError

__all__ = ["Client"]

_MISSING: Any = object()


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
    ) -> None:
        self._http = http
        self.namespace = namespace
        self.data_converter = data_converter
        self.identity = identity or f"{uuid.uuid4().hex[:8]}@client"
        self._worker_transport = worker_transport
        # How long calls keep retrying while the server answers "unavailable" (503/refused).
        self.rpc_retry_seconds = rpc_retry_seconds
        # Where workers consume; None: ask the frontend (GET /api/v1/cluster).
        self._amqp_url = amqp_url
        # Entered around each result wait; the time-skipping test environment sets it to move
        # its clock while someone waits.
        self._result_wait_hook: Callable[[], AbstractAsyncContextManager[None]] | None = None

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
