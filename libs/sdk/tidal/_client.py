"""`Client` (re-exported by `tidal.client`): connects to the frontend's HTTP API, starts
workflows, lists and counts runs, creates schedules; `WorkflowHandle` (in `_workflow_handle.py`)
talks to one workflow."""

from __future__ import annotations

import uuid
from collections.abc import Callable, Mapping, Sequence
from contextlib import AbstractAsyncContextManager
from datetime import timedelta
from typing import Any

import httpx
from tidal_schema.limits import MESSAGE_MAX_BYTES

from . import _with_start
from ._async_activity import AsyncActivityHandle
from ._client_calls import WAIT_FOR_RESULT, ClientCalls
from ._client_connect import (
    ClientConfig,
    HttpConnectConfig,
    PayloadLimitsConfig,
    Plugin,
    connect_http,
    connect_through,
    warn_large_payloads,
)
from ._client_inputs import (
    CountWorkflowsInput,
    ListWorkflowsInput,
    StartWorkflowInput,
    StartWorkflowUpdateWithStartInput,
    UpdateWithStartUpdateWorkflowInput,
)
from ._client_interactions import WorkflowUpdateHandle, WorkflowUpdateStage, _update_name
from ._client_interceptor import Interceptor, OutboundInterceptor
from ._client_types import _signal_name, _workflow_name
from ._eager_start import EagerWorkers
from ._executions import WorkflowExecutionAsyncIterator
from ._http_call import call
from ._http_direct import path_segment
from ._policies import QueryRejectCondition, WorkflowIDConflictPolicy, WorkflowIDReusePolicy
from ._schedule_client import ScheduleAsyncIterator, ScheduleHandle
from ._schedule_inputs import CreateScheduleInput, ListSchedulesInput
from ._schedules import Schedule, ScheduleBackfill
from ._search_attributes import TypedSearchAttributes
from ._transport import AmqpTransport, WorkerTransport
from ._visibility import WorkflowExecutionCount
from ._with_start import WithStartWorkflowOperation
from ._workflow_handle import WorkflowHandle
from .common import Priority, RetryPolicy
from .converter import DataConverter
from .exceptions import RPCError

__all__ = ["Client", "ClientConfig"]


_MISSING: Any = object()


class Client:
    """Connect with `await Client.connect("http://127.0.0.1:7243")`."""

    namespace: str
    data_converter: DataConverter
    identity: str
    rpc_retry_seconds: float
    default_workflow_query_reject_condition: QueryRejectCondition | None

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
        interceptors: Sequence[Interceptor] = (),
        default_workflow_query_reject_condition: QueryRejectCondition | None = None,
        result_wait_hook: Callable[[], AbstractAsyncContextManager[None]] | None = None,
        plugins: Sequence[Plugin] = (),
        payload_limits: PayloadLimitsConfig = PayloadLimitsConfig(),
    ) -> None:
        """`result_wait_hook`: entered around every wait for a result (`handle.result()`,
        `execute_workflow`); the time-skipping test environment passes one that moves its clock
        while someone waits. Anything that must act while a caller waits can do the same.
        `plugins`: client plugins, whose `configure_client` change this configuration in order
        (temporalio's); `payload_limits`: sizes over which outbound payloads are logged."""
        config = ClientConfig(
            http=http,
            namespace=namespace,
            data_converter=data_converter,
            identity=identity,
            worker_transport=worker_transport,
            rpc_retry_seconds=rpc_retry_seconds,
            amqp_url=amqp_url,
            interceptors=tuple(interceptors),
            default_workflow_query_reject_condition=default_workflow_query_reject_condition,
            result_wait_hook=result_wait_hook,
            plugins=tuple(plugins),
            payload_limits=payload_limits,
        )
        self._initial_config = ClientConfig(**config)
        # The running workers built with this client, for eager workflow starts (_eager_start.py).
        self._eager_workers = EagerWorkers()
        for plugin in plugins:
            config = plugin.configure_client(config)
        self._init_from_config(config)

    def _init_from_config(self, config: ClientConfig) -> None:
        self._config = config
        self._http = config["http"]
        self.namespace = config["namespace"]
        self.data_converter = config["data_converter"]
        self.identity = config["identity"] or f"{uuid.uuid4().hex[:8]}@client"
        self._worker_transport = config["worker_transport"]
        # How long calls keep retrying while the server answers "unavailable" (503/refused).
        self.rpc_retry_seconds = config["rpc_retry_seconds"]
        # Where workers consume; None: ask the frontend (GET /api/v1/cluster).
        self._amqp_url = config["amqp_url"]
        self._result_wait_hook = config["result_wait_hook"]
        self._payload_limits = config.get("payload_limits", PayloadLimitsConfig())
        self.default_workflow_query_reject_condition = config["default_workflow_query_reject_condition"]
        # The chain: the first interceptor given is the outermost, the HTTP calls the innermost.
        impl: OutboundInterceptor = ClientCalls(self)
        for interceptor in reversed(tuple(config["interceptors"])):
            impl = interceptor.intercept_client(impl)
        self._impl = impl

    @property
    def result_wait_hook(self) -> Callable[[], AbstractAsyncContextManager[None]] | None:
        """What the constructor's `result_wait_hook` set (None: result waits just wait)."""
        return self._result_wait_hook

    def config(self, *, active_config: bool = False) -> ClientConfig:
        """What this client was built with (a copy): `Client(**config)` builds another one on the
        same connection, e.g. with more interceptors, as temporalio's `Client.config()`.
        `active_config`: the configuration in use, after the plugins' `configure_client`
        (otherwise the one given, which still names the plugins)."""
        return ClientConfig(**(self._config if active_config else self._initial_config))

    @staticmethod
    async def connect(
        target_host: str = "http://127.0.0.1:7243",
        *,
        namespace: str = "default",
        api_key: str | None = None,
        data_converter: DataConverter = DataConverter.default,
        plugins: Sequence[Plugin] = (),
        interceptors: Sequence[Interceptor] = (),
        default_workflow_query_reject_condition: QueryRejectCondition | None = None,
        connect_timeout: timedelta | None = None,
        identity: str | None = None,
        lazy: bool = False,
        payload_limits: PayloadLimitsConfig = PayloadLimitsConfig(),
        amqp_url: str | None = None,
        rpc_retry_seconds: float = 30.0,
    ) -> Client:
        """`interceptors` wrap every call (`tidal.client.Interceptor`, first = outermost);
        `plugins` (`tidal.client.Plugin`) wrap the connection and configure the client;
        `default_workflow_query_reject_condition` applies to queries that give none;
        `connect_timeout` bounds opening a connection (default 10 s). Unless `lazy`, connect asks
        the frontend's `/healthz` first (retried while unavailable, for `rpc_retry_seconds`), so
        an unreachable server fails here; with `lazy=True` nothing is sent until the first call.
        `payload_limits`: sizes over which outbound payloads and memos are logged."""
        connect_config = HttpConnectConfig(
            target_host=target_host,
            api_key=api_key,
            identity=identity or "",
            lazy=lazy,
            connect_timeout=connect_timeout,
            payload_limits=payload_limits,
            rpc_retry_seconds=rpc_retry_seconds,
        )
        http = await connect_through(plugins, connect_http)(connect_config)
        return Client(
            http=http,
            namespace=namespace,
            data_converter=data_converter,
            identity=identity,
            rpc_retry_seconds=rpc_retry_seconds,
            amqp_url=amqp_url,
            interceptors=interceptors,
            default_workflow_query_reject_condition=default_workflow_query_reject_condition,
            plugins=plugins,
            payload_limits=connect_config.payload_limits,
        )

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
        id_conflict_policy: WorkflowIDConflictPolicy = WorkflowIDConflictPolicy.UNSPECIFIED,
        retry_policy: RetryPolicy | None = None,
        cron_schedule: str = "",
        memo: dict[str, Any] | None = None,
        search_attributes: TypedSearchAttributes | Mapping[str, Any] | None = None,
        start_delay: timedelta | None = None,
        start_signal: str | Callable[..., Any] | None = None,
        start_signal_args: Sequence[Any] = (),
        request_id: str | None = None,
        static_summary: str | None = None,
        static_details: str | None = None,
        request_eager_start: bool = False,
        priority: Priority = Priority.default,
        stack_level: int = 2,
    ) -> WorkflowHandle[Any]:
        """Start a run (as temporalio). With `start_signal` (a signal name) it is
        signal-with-start: a running workflow with this id is only signalled; otherwise a run
        starts with the signal recorded before its first workflow task. `cron_schedule` (a
        cron string, or `@every 1h`) runs it on Temporal's cron semantics: the first run waits
        for the first cron time, every close but a cancel or terminate starts the next run
        (docs/schedules.md#cron-schedules-on-workflows); a schedule is usually the better tool.

        `request_eager_start` (temporalio's eager workflow start): when a `Worker` built with
        this client runs on `task_queue` with the workflow registered and a free workflow task
        slot, the slot is reserved and history returns the first workflow task in the start's
        reply; that worker runs it at once instead of receiving it through matching. Without such
        a worker, or for a start that cannot be eager (signal-with-start, `start_delay`,
        `cron_schedule`, a run terminated by the start), the start goes the usual way.
        `stack_level` is accepted for temporalio's signature; it places the warnings the call
        emits, and Tidal's start emits none (mapping search attributes are not deprecated)."""
        del stack_level
        name, ret_type = _workflow_name(workflow)
        return await self._impl.start_workflow(
            StartWorkflowInput(
                workflow=name,
                args=[arg] if arg is not _MISSING else list(args),
                id=id,
                task_queue=task_queue,
                execution_timeout=execution_timeout,
                run_timeout=run_timeout,
                task_timeout=task_timeout,
                id_reuse_policy=id_reuse_policy,
                id_conflict_policy=id_conflict_policy,
                retry_policy=retry_policy,
                cron_schedule=cron_schedule,
                memo=memo,
                search_attributes=search_attributes,
                start_delay=start_delay,
                headers={},
                start_signal=_signal_name(start_signal) if start_signal is not None else None,
                start_signal_args=list(start_signal_args),
                static_summary=static_summary,
                static_details=static_details,
                ret_type=result_type or ret_type,
                rpc_metadata={},
                rpc_timeout=None,
                request_eager_start=request_eager_start,
                priority=priority,
                request_id=request_id,
            )
        )

    async def execute_workflow(self, workflow: Any, arg: Any = _MISSING, **kwargs: Any) -> Any:
        # The start also waits for the result (one request instead of a start and a poll), except
        # in the time-skipping environment, which skips time only while `result()` waits.
        token = WAIT_FOR_RESULT.set(self.result_wait_hook is None)
        try:
            handle = await self.start_workflow(workflow, arg, **kwargs)
        finally:
            WAIT_FOR_RESULT.reset(token)
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
        op = start_workflow_operation
        if op._future().done():
            raise RuntimeError("a WithStartWorkflowOperation can be used only once")
        name, hint = _update_name(update)
        update_input = UpdateWithStartUpdateWorkflowInput(
            update_id=id,
            update=name,
            args=[arg] if arg is not _MISSING else list(args),
            wait_for_stage=wait_for_stage,
            headers={},
            ret_type=result_type or hint,
        )
        return await self._impl.start_update_with_start_workflow(
            StartWorkflowUpdateWithStartInput(
                start_workflow_input=op._start_workflow_input,
                update_workflow_input=update_input,
                rpc_metadata={},
                rpc_timeout=rpc_timeout,
                _on_start=lambda run_id, started: _with_start.resolve(op, self, run_id, started),
                _on_start_error=lambda err: _with_start.fail(op, err),
            )
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
        return AsyncActivityHandle(self, task_token)

    # --- visibility (docs/visibility.md) --------------------------------------------------

    def list_workflows(
        self,
        query: str | None = None,
        *,
        limit: int | None = None,
        page_size: int = 1000,
        next_page_token: bytes | str | None = None,
    ) -> WorkflowExecutionAsyncIterator:
        """Runs matching `query` (all runs when None), newest first unless it says
        `ORDER BY StartTime ASC`: `async for wf in client.list_workflows("WorkflowType = 'X'")`."""
        token = next_page_token.encode() if isinstance(next_page_token, str) else next_page_token
        return self._impl.list_workflows(ListWorkflowsInput(query, page_size, token, {}, None, limit))

    async def count_workflows(self, query: str | None = None) -> WorkflowExecutionCount:
        return await self._impl.count_workflows(CountWorkflowsInput(query, {}, None))

    # --- schedules (docs/schedules.md; the calls are in _schedule_client.py) --------------

    async def create_schedule(
        self,
        id: str,
        schedule: Schedule,
        *,
        trigger_immediately: bool = False,
        backfill: Sequence[ScheduleBackfill] = (),
        memo: Mapping[str, Any] | None = None,
        search_attributes: TypedSearchAttributes | Mapping[str, Any] | None = None,
    ) -> ScheduleHandle:
        """Create a schedule; ScheduleAlreadyRunningError if the id is taken."""
        return await self._impl.create_schedule(
            CreateScheduleInput(
                id, schedule, trigger_immediately, backfill, memo, search_attributes, {}, None
            )
        )

    def get_schedule_handle(self, id: str) -> ScheduleHandle:
        return ScheduleHandle(self, id)

    async def list_schedules(
        self, query: str | None = None, *, page_size: int = 1000, next_page_token: bytes | None = None
    ) -> ScheduleAsyncIterator:
        """The namespace's schedules, ordered by id; `query` filters on their own search
        attributes (and `ScheduleId`, `TemporalSchedulePaused`) in the workflow list's language."""
        return self._impl.list_schedules(ListSchedulesInput(page_size, next_page_token, {}, None, query))

    # --- HTTP -----------------------------------------------------------------------------

    def _wf_path(self, workflow_id: str | None = None, suffix: str = "") -> str:
        base = f"/api/v1/namespaces/{self.namespace}/workflows"
        if workflow_id is None:
            return base
        return f"{base}/{path_segment(workflow_id)}{suffix}"

    async def _call(self, method: str, path: str, **kwargs: Any) -> dict[str, Any]:
        """One API call, retried while the server is unavailable (see `_http_call.call`)."""
        if "json" in kwargs:
            warn_large_payloads(kwargs["json"], self._payload_limits, f"{method} {path}")
        return await call(self._http, method, path, retry_seconds=self.rpc_retry_seconds, **kwargs)
