"""Child workflows and external workflow handles: part of `tidal.workflow`'s API (re-exported
there; mirrors temporalio.workflow). Only usable inside workflow code."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Mapping, Sequence
from datetime import timedelta
from enum import IntEnum
from typing import Any, TypedDict, TypeVar, overload

from ._definitions import _SIGNAL_ATTR
from ._policies import WorkflowIDReusePolicy
from ._search_attributes import TypedSearchAttributes
from ._workflow_context import _MISSING, _rt, uuid4
from ._workflow_interceptors import (
    SignalChildWorkflowInput,
    SignalExternalWorkflowInput,
    StartChildWorkflowInput,
)
from .common import Priority, RetryPolicy

ReturnT = TypeVar("ReturnT")


class ParentClosePolicy(IntEnum):
    """What happens to a child when its parent closes (temporalio's values)."""

    UNSPECIFIED = 0
    TERMINATE = 1
    ABANDON = 2
    REQUEST_CANCEL = 3


class ChildWorkflowCancellationType(IntEnum):
    """How cancelling a child handle behaves. Tidal implements WAIT_CANCELLATION_COMPLETED (the
    default): the child is asked to cancel and the handle resolves when the child has closed."""

    ABANDON = 0
    TRY_CANCEL = 1
    WAIT_CANCELLATION_COMPLETED = 2
    WAIT_CANCELLATION_REQUESTED = 3


_WAIT_COMPLETED = ChildWorkflowCancellationType.WAIT_CANCELLATION_COMPLETED

POLICY_NAMES = {
    ParentClosePolicy.UNSPECIFIED: "Terminate",
    ParentClosePolicy.TERMINATE: "Terminate",
    ParentClosePolicy.ABANDON: "Abandon",
    ParentClosePolicy.REQUEST_CANCEL: "RequestCancel",
}


class ChildWorkflowHandle(asyncio.Task[ReturnT]):
    """A started child workflow, as an asyncio Task: await it for the child's result (failures
    raise ChildWorkflowError), `cancel()` it to ask the child to cancel."""

    _child_id: str
    _started: asyncio.Future[str]

    def _bind(self, *, id: str, started: asyncio.Future[str]) -> None:
        self._child_id = id
        self._started = started

    @property
    def id(self) -> str:
        return self._child_id

    @property
    def first_execution_run_id(self) -> str | None:
        s = self._started
        return s.result() if s.done() and not s.cancelled() and s.exception() is None else None

    async def signal(self, signal: Any, arg: Any = _MISSING, *, args: Sequence[Any] = ()) -> None:
        """Send a signal to the child; returns once history has delivered it."""
        await _rt().outbound.signal_child_workflow(
            SignalChildWorkflowInput(
                signal=_signal_name(signal), args=_args(arg, args), child_workflow_id=self.id, headers={}
            )
        )


class ExternalWorkflowHandle:
    """Another workflow, by id (and optionally run id), that this workflow can signal or cancel."""

    def __init__(self, id: str, *, run_id: str | None = None, namespace: str | None = None) -> None:
        self.id = id
        self.run_id = run_id
        self._namespace = namespace

    async def signal(self, signal: Any, arg: Any = _MISSING, *, args: Sequence[Any] = ()) -> None:
        """Signal the workflow; raises ApplicationError if it does not exist or is closed."""
        rt = _rt()
        await rt.outbound.signal_external_workflow(
            SignalExternalWorkflowInput(
                signal=_signal_name(signal),
                args=_args(arg, args),
                namespace=self._namespace or rt.info.namespace,
                workflow_id=self.id,
                workflow_run_id=self.run_id,
                headers={},
            )
        )

    async def cancel(self, *, reason: str = "") -> None:
        """Ask the workflow to cancel (its `workflow.cancellation_reason()` is `reason`); raises
        ApplicationError if it does not exist or is closed."""
        rt = _rt()
        await rt.children.request_cancel_external(
            self._namespace or rt.info.namespace, self.id, self.run_id, reason
        )


def get_external_workflow_handle(workflow_id: str, *, run_id: str | None = None) -> ExternalWorkflowHandle:
    _rt()
    return ExternalWorkflowHandle(workflow_id, run_id=run_id)


def get_external_workflow_handle_for(
    workflow: Any, workflow_id: str, *, run_id: str | None = None
) -> ExternalWorkflowHandle:
    """Typed variant in temporalio; here the same handle (`workflow` only documents the type)."""
    del workflow
    return get_external_workflow_handle(workflow_id, run_id=run_id)


class ChildWorkflowConfig(TypedDict, total=False):
    """Options of `start_child_workflow` / `execute_child_workflow`, as a dict to pass around
    (`workflow.execute_child_workflow(Child.run, x, **config)`)."""

    id: str | None
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
    static_summary: str | None
    static_details: str | None
    priority: Priority


@overload
async def start_child_workflow(
    workflow: Callable[..., Awaitable[ReturnT]],
    arg: Any = _MISSING,
    *,
    args: Sequence[Any] = (),
    id: str | None = None,
    task_queue: str | None = None,
    result_type: type | None = None,
    cancellation_type: ChildWorkflowCancellationType = _WAIT_COMPLETED,
    parent_close_policy: ParentClosePolicy = ParentClosePolicy.TERMINATE,
    execution_timeout: timedelta | None = None,
    run_timeout: timedelta | None = None,
    task_timeout: timedelta | None = None,
    id_reuse_policy: WorkflowIDReusePolicy = WorkflowIDReusePolicy.ALLOW_DUPLICATE,
    retry_policy: RetryPolicy | None = None,
    cron_schedule: str = "",
    memo: Mapping[str, Any] | None = None,
    search_attributes: TypedSearchAttributes | Mapping[str, Any] | None = None,
    static_summary: str | None = None,
    static_details: str | None = None,
    priority: Priority = Priority.default,
) -> ChildWorkflowHandle[ReturnT]: ...


@overload
async def start_child_workflow(
    workflow: type | str,
    arg: Any = _MISSING,
    *,
    args: Sequence[Any] = (),
    id: str | None = None,
    task_queue: str | None = None,
    result_type: type | None = None,
    cancellation_type: ChildWorkflowCancellationType = _WAIT_COMPLETED,
    parent_close_policy: ParentClosePolicy = ParentClosePolicy.TERMINATE,
    execution_timeout: timedelta | None = None,
    run_timeout: timedelta | None = None,
    task_timeout: timedelta | None = None,
    id_reuse_policy: WorkflowIDReusePolicy = WorkflowIDReusePolicy.ALLOW_DUPLICATE,
    retry_policy: RetryPolicy | None = None,
    cron_schedule: str = "",
    memo: Mapping[str, Any] | None = None,
    search_attributes: TypedSearchAttributes | Mapping[str, Any] | None = None,
    static_summary: str | None = None,
    static_details: str | None = None,
    priority: Priority = Priority.default,
) -> ChildWorkflowHandle[Any]: ...


async def start_child_workflow(
    workflow: Any,
    arg: Any = _MISSING,
    *,
    args: Sequence[Any] = (),
    id: str | None = None,
    task_queue: str | None = None,
    result_type: type | None = None,
    cancellation_type: ChildWorkflowCancellationType = _WAIT_COMPLETED,
    parent_close_policy: ParentClosePolicy = ParentClosePolicy.TERMINATE,
    execution_timeout: timedelta | None = None,
    run_timeout: timedelta | None = None,
    task_timeout: timedelta | None = None,
    id_reuse_policy: WorkflowIDReusePolicy = WorkflowIDReusePolicy.ALLOW_DUPLICATE,
    retry_policy: RetryPolicy | None = None,
    cron_schedule: str = "",
    memo: Mapping[str, Any] | None = None,
    search_attributes: TypedSearchAttributes | Mapping[str, Any] | None = None,
    static_summary: str | None = None,
    static_details: str | None = None,
    priority: Priority = Priority.default,
) -> ChildWorkflowHandle[Any]:
    """Start a child workflow and return its handle once it has started (the child's shard
    confirmed it). Raises WorkflowAlreadyStartedError if the workflow id is in use (or, per
    `id_reuse_policy`, was used). `retry_policy`, `cron_schedule`, `memo`, `search_attributes`,
    the static summary and details and `priority` mean what they mean on
    `Client.start_workflow` (a priority's unset fields are the parent's,
    docs/task-priority.md). A cron child's result is its chain's last run's, as in Temporal."""
    from ._client_types import _workflow_name  # the same naming rules as Client.start_workflow

    name, hinted = _workflow_name(workflow)
    return await _rt().outbound.start_child_workflow(
        StartChildWorkflowInput(
            workflow=name,
            args=_args(arg, args),
            id=id or str(uuid4()),
            task_queue=task_queue,
            cancellation_type=cancellation_type,
            parent_close_policy=parent_close_policy,
            execution_timeout=execution_timeout,
            run_timeout=run_timeout,
            task_timeout=task_timeout,
            id_reuse_policy=id_reuse_policy,
            retry_policy=retry_policy,
            cron_schedule=cron_schedule,
            memo=memo,
            search_attributes=search_attributes,
            headers={},
            versioning_intent=None,
            static_summary=static_summary,
            static_details=static_details,
            priority=priority,
            arg_types=None,
            ret_type=result_type if result_type is not None else hinted,
        )
    )


async def execute_child_workflow(workflow: Any, arg: Any = _MISSING, **kwargs: Any) -> Any:
    """Start a child workflow and wait for its result; failures raise ChildWorkflowError."""
    handle = await start_child_workflow(workflow, arg, **kwargs)
    return await handle


def _args(arg: Any, args: Sequence[Any]) -> list[Any]:
    if arg is not _MISSING:
        if args:
            raise ValueError("pass either arg or args, not both")
        return [arg]
    return list(args)


def _signal_name(signal: Any) -> str:
    if isinstance(signal, str):
        return signal
    name = getattr(signal, _SIGNAL_ATTR, None)
    if name is None:
        raise TypeError(f"{signal!r} is not a signal: pass a @workflow.signal method or the signal name")
    return str(name)
