"""The run method's own task, from its start to the run's closing command.

A collaborator of `WorkflowInstance` (`instance.lifecycle`): WorkflowExecutionStarted builds
the workflow object and starts the run method through the inbound interceptors; a cancel request
cancels that task; a handler's failure fails the workflow (FailureError) or the task; after each
activation `finish()` says whether the run closes (outcome.py).
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from datetime import datetime
from typing import Any

from tidal_schema import Failure, Payload, events
from tidal_schema.commands import Command
from tidal_schema.events import HistoryEvent

from .._definitions import WorkflowDefinition
from .._workflow_interceptors import ExecuteWorkflowInput, WorkflowInboundInterceptor
from ..converter import DataConverter
from ..exceptions import FailureError
from .activation import ActivationState
from .outcome import closing_command
from .start import construct, start_info

__all__ = ["RunLifecycle"]


class RunLifecycle:
    def __init__(
        self,
        state: ActivationState,
        *,
        definition: WorkflowDefinition,
        converter: DataConverter,
        inbound: WorkflowInboundInterceptor,
        failure_exception_types: Sequence[type[BaseException]],
    ) -> None:
        self._state = state
        self._definition = definition
        self._converter = converter
        self._inbound = inbound
        # The worker's types plus the workflow's own (`@workflow.defn(failure_exception_types=)`).
        self._worker_failure_types = tuple(failure_exception_types)
        self.failure_types = self._worker_failure_types + definition.failure_exception_types
        self._run_task: asyncio.Task[Any] | None = None
        self.closed = False
        self._cancel_requested = False
        # The reason of the cancel request (temporalio's `workflow.cancellation_reason()`).
        self.cancellation_reason: str | None = None
        self._workflow_failure: BaseException | None = None  # FailureError from a handler
        self.last_failure: Failure | None = None
        self.last_completion_result: tuple[Payload, ...] = ()

    def start(
        self,
        ev: HistoryEvent,
        a: events.WorkflowExecutionStarted,
        *,
        namespace: str,
        workflow_id: str,
        run_id: str,
        first_task_time: datetime,
    ) -> None:
        self._state.info = start_info(
            ev,
            a,
            namespace=namespace,
            workflow_id=workflow_id,
            run_id=run_id,
            first_task_time=first_task_time,
        )
        # What the previous attempt or cron run left (workflow.get_last_failure & co).
        self.last_failure = a.continued_failure
        self.last_completion_result = a.last_completion_result
        d = self._definition
        made = construct(d, self._converter, a)
        self._state.workflow_object = made.obj
        if made.failure_types is not None:
            self.failure_types = self._worker_failure_types + made.failure_types
        loop = self._state.loop
        if made.error is not None:
            error = made.error

            async def raise_init_error() -> Any:
                raise error

            self._run_task = loop.create_task(raise_init_error())
            return
        call = ExecuteWorkflowInput(type=d.cls, run_fn=d.run_fn, args=made.args, headers=dict(a.header))
        self._run_task = loop.create_task(self._inbound.execute_workflow(call), name=f"workflow:{d.name}")

    def request_cancel(self, reason: str | None) -> None:
        self._cancel_requested = True
        self.cancellation_reason = reason
        if self._run_task is not None and not self._run_task.done():
            self._run_task.cancel()

    def handler_failed(self, e: BaseException) -> None:
        if isinstance(e, FailureError):
            self._workflow_failure = self._workflow_failure or e
        else:
            self._state.task_failure = self._state.task_failure or e

    def is_failure_exception(self, err: BaseException) -> bool:
        return isinstance(err, (FailureError, *self.failure_types))

    def finish(self) -> Command | None:
        """The command that closes the run after this activation (None: it goes on, or it closed
        before); raises WorkflowTaskError for a bug in workflow code (outcome.py)."""
        cmd = closing_command(
            self._run_task,
            closed=self.closed,
            task_failure=self._state.task_failure,
            workflow_failure=self._workflow_failure,
            cancel_requested=self._cancel_requested,
            failure_types=self.failure_types,
            info=self._state.info,
            converter=self._converter,
        )
        if cmd is not None:
            self.closed = True
        return cmd
