"""Child workflows and external workflow handles inside a run (docs/child-workflows.md).

A collaborator of `WorkflowInstance` (`instance.children`): `workflow.start_child_workflow`,
`ChildWorkflowHandle.signal` and `ExternalWorkflowHandle.signal/cancel` record commands here; the
Initiated events confirm them (and give each its initiated event id); the outcome events history
writes later (child started / closed, external request delivered / failed) resolve the futures
workflow code awaits.
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import timedelta
from typing import TYPE_CHECKING, Any

from tidal_schema import Payload, TimeoutType, WorkflowIdReusePolicy, events
from tidal_schema.commands import (
    Command,
    RequestCancelExternalWorkflowExecution,
    SignalExternalWorkflowExecution,
    StartChildWorkflowExecution,
)
from tidal_schema.events import HistoryEvent

from .. import exceptions as exc_mod
from .._children import ChildWorkflowHandle
from .._policies import WorkflowIDReusePolicy
from ..common import Priority, RetryPolicy
from ..exceptions import ApplicationError, ChildWorkflowError, WorkflowAlreadyStartedError, failure_to_error

if TYPE_CHECKING:
    from .activation import ActivationState

# Events that resolve what this module started (activation jobs).
CHILD_JOB_EVENTS = frozenset(
    {
        "ChildWorkflowExecutionStarted",
        "StartChildWorkflowExecutionFailed",
        "ChildWorkflowExecutionCompleted",
        "ChildWorkflowExecutionFailed",
        "ChildWorkflowExecutionCanceled",
        "ChildWorkflowExecutionTerminated",
        "ChildWorkflowExecutionTimedOut",
        "ExternalWorkflowExecutionSignaled",
        "SignalExternalWorkflowExecutionFailed",
        "ExternalWorkflowExecutionCancelRequested",
        "RequestCancelExternalWorkflowExecutionFailed",
    }
)


@dataclass
class _Child:
    command: StartChildWorkflowExecution
    started: asyncio.Future[str]  # the child's first run id
    result: asyncio.Future[Any]
    result_type: Any
    initiated_event_id: int | None = None
    run_id: str | None = None


@dataclass
class _External:
    command: Command
    done: asyncio.Future[None]
    initiated_event_id: int | None = None


class Children:
    """The run's child workflows and requests to external workflows, from the command that
    starts each one to the event that resolves it."""

    def __init__(self, state: ActivationState) -> None:
        self._state = state
        self._pending_ops: dict[int, _Child | _External] = {}  # id(command) -> op, until confirmed
        self._children: dict[int, _Child] = {}  # initiated event id -> child
        self._children_by_id: dict[str, _Child] = {}  # workflow id -> the last child of that id
        self._externals: dict[int, _External] = {}  # initiated event id -> request

    # --- what workflow code calls -------------------------------------------------------------

    def start(
        self,
        *,
        workflow_type: str,
        args: list[Any],
        id: str,
        task_queue: str | None,
        result_type: Any,
        parent_close_policy: str,
        execution_timeout: timedelta | None,
        run_timeout: timedelta | None,
        task_timeout: timedelta | None,
        id_reuse_policy: WorkflowIDReusePolicy = WorkflowIDReusePolicy.ALLOW_DUPLICATE,
        retry_policy: RetryPolicy | None = None,
        cron_schedule: str = "",
        memo: Mapping[str, Any] | None = None,
        search_attributes: Mapping[str, Any] | None = None,
        static_summary: str | None = None,
        static_details: str | None = None,
        headers: Mapping[str, Payload] | None = None,
        priority: Priority = Priority.default,
    ) -> ChildWorkflowHandle[Any]:
        cmd = StartChildWorkflowExecution(
            namespace=self._state.run_info.namespace,
            workflow_id=id,
            workflow_type=workflow_type,
            task_queue=task_queue or self._state.run_info.task_queue,
            input=self._state.converter.to_payloads(args),
            parent_close_policy=parent_close_policy,
            workflow_execution_timeout=execution_timeout,
            workflow_run_timeout=run_timeout,
            workflow_task_timeout=task_timeout,
            id_reuse_policy=WorkflowIdReusePolicy(id_reuse_policy.value),
            retry_policy=retry_policy.to_schema() if retry_policy else None,
            memo={k: self._state.converter.to_payload(v) for k, v in (memo or {}).items()},
            search_attributes=dict(search_attributes or {}),
            static_summary=static_summary,
            static_details=static_details,
            header=dict(headers or {}),
            priority=priority.to_schema(),
            cron_schedule=cron_schedule or None,
        )
        loop = self._state.loop
        child = _Child(cmd, loop.create_future(), loop.create_future(), result_type)
        # Nobody may await these (e.g. a fire-and-forget child): keep asyncio from logging them.
        child.started.add_done_callback(_retrieve)
        child.result.add_done_callback(_retrieve)
        self._pending_ops[_op_key(cmd)] = child
        self._children_by_id[id] = child
        self._state.add_command(cmd)
        handle: ChildWorkflowHandle[Any] = ChildWorkflowHandle(
            self._await_child(child), loop=loop, name=f"child:{id}"
        )
        handle._bind(id=id, started=child.started)
        return handle

    def run_id_of(self, workflow_id: str) -> str | None:
        """The run id of the child this run started with `workflow_id` (None: not started yet, or
        no such child: the signal then goes to the id's current run)."""
        child = self._children_by_id.get(workflow_id)
        return child.run_id if child is not None else None

    async def _await_child(self, child: _Child) -> Any:
        try:
            return await asyncio.shield(child.result)
        except asyncio.CancelledError:
            if self._state.remove_command(child.command):
                self._pending_ops.pop(_op_key(child.command), None)
                raise  # never sent: nothing to cancel
            if child.result.done():
                raise
            # Temporal's default (WAIT_CANCELLATION_COMPLETED): ask the child to cancel, then wait
            # for it to close; a cancelled child raises ChildWorkflowError caused by CancelledError.
            cmd = child.command
            self.request_cancel_external(cmd.namespace, cmd.workflow_id, child.run_id)
            return await child.result

    def signal_external(
        self,
        namespace: str,
        workflow_id: str,
        run_id: str | None,
        signal_name: str,
        args: list[Any],
        *,
        headers: Mapping[str, Payload] | None = None,
    ) -> asyncio.Future[None]:
        cmd = SignalExternalWorkflowExecution(
            namespace=namespace,
            workflow_id=workflow_id,
            run_id=run_id,
            signal_name=signal_name,
            input=self._state.converter.to_payloads(args),
            header=dict(headers or {}),
        )
        return self._external(cmd)

    def request_cancel_external(
        self, namespace: str, workflow_id: str, run_id: str | None, reason: str = ""
    ) -> asyncio.Future[None]:
        cmd = RequestCancelExternalWorkflowExecution(
            namespace=namespace, workflow_id=workflow_id, run_id=run_id, reason=reason
        )
        return self._external(cmd)

    def _external(self, cmd: Command) -> asyncio.Future[None]:
        op = _External(cmd, self._state.loop.create_future())
        op.done.add_done_callback(_retrieve)
        self._pending_ops[_op_key(cmd)] = op
        self._state.add_command(cmd)
        return op.done

    # --- what history says ------------------------------------------------------------------

    def confirmed(self, ev: HistoryEvent, cmd: Command) -> None:
        """The Initiated event of one of our commands: from now on it is known by its event id."""
        op = self._pending_ops.pop(_op_key(cmd), None)
        if op is None:
            return
        op.initiated_event_id = ev.event_id
        if isinstance(op, _Child):
            self._children[ev.event_id] = op
        else:
            self._externals[ev.event_id] = op

    def apply(self, ev: HistoryEvent) -> None:
        """One of CHILD_JOB_EVENTS: resolve what it is about."""
        a = ev.attributes
        if isinstance(
            a,
            events.ExternalWorkflowExecutionSignaled
            | events.ExternalWorkflowExecutionCancelRequested
            | events.SignalExternalWorkflowExecutionFailed
            | events.RequestCancelExternalWorkflowExecutionFailed,
        ):
            ext = self._externals.pop(a.initiated_event_id, None)
            if ext is None or ext.done.done():
                return
            if isinstance(
                a,
                events.SignalExternalWorkflowExecutionFailed
                | events.RequestCancelExternalWorkflowExecutionFailed,
            ):
                what = "signal" if isinstance(a, events.SignalExternalWorkflowExecutionFailed) else "cancel"
                ext.done.set_exception(
                    ApplicationError(
                        f"Unable to {what} external workflow {a.workflow_id!r}: not found or closed",
                        type=a.cause,
                    )
                )
            else:
                ext.done.set_result(None)
            return
        initiated: int = getattr(a, "initiated_event_id", 0)
        child = self._children.get(initiated)
        if child is None:
            return
        if isinstance(a, events.ChildWorkflowExecutionStarted):
            child.run_id = a.run_id
            if not child.started.done():
                child.started.set_result(a.run_id)
            return
        del self._children[initiated]  # every other event is final
        if isinstance(a, events.StartChildWorkflowExecutionFailed):
            err = WorkflowAlreadyStartedError(a.workflow_id, a.workflow_type)
            for fut in (child.started, child.result):
                if not fut.done():
                    fut.set_exception(err)
            return
        if not child.started.done():
            child.started.set_result(getattr(a, "run_id", ""))
        if child.result.done():
            return
        if isinstance(a, events.ChildWorkflowExecutionCompleted):
            payloads = a.result[:1]
            value = (
                self._state.converter.from_payloads(payloads, [child.result_type])[0] if payloads else None
            )
            child.result.set_result(value)
            return
        child.result.set_exception(self._child_error(a, child))

    def _child_error(self, a: events.EventAttributes, child: _Child) -> ChildWorkflowError:
        cmd = child.command
        error = ChildWorkflowError(
            "Child Workflow execution failed",
            namespace=cmd.namespace,
            workflow_id=cmd.workflow_id,
            run_id=getattr(a, "run_id", "") or "",
            workflow_type=cmd.workflow_type,
            initiated_event_id=child.initiated_event_id or 0,
            started_event_id=getattr(a, "started_event_id", 0),
            retry_state=getattr(a, "retry_state", None),
        )
        if isinstance(a, events.ChildWorkflowExecutionFailed):
            error.__cause__ = failure_to_error(a.failure)
        elif isinstance(a, events.ChildWorkflowExecutionCanceled):
            error.__cause__ = exc_mod.CancelledError("Child workflow cancelled", *[p.data for p in a.details])
        elif isinstance(a, events.ChildWorkflowExecutionTerminated):
            error.__cause__ = exc_mod.TerminatedError("Child workflow terminated")
        elif isinstance(a, events.ChildWorkflowExecutionTimedOut):
            error.__cause__ = exc_mod.TimeoutError(
                "Child workflow timed out", type=TimeoutType.START_TO_CLOSE
            )
        return error


def _retrieve(fut: asyncio.Future[Any]) -> None:
    if not fut.cancelled():
        fut.exception()


def _op_key(cmd: Command) -> int:
    # Identity, not equality: two identical commands (e.g. the same signal twice) are two ops.
    return id(cmd)
