"""How an activation ends the run, if it does: the closing command, or a failed task."""

from __future__ import annotations

import asyncio
from typing import Any

from tidal_schema.commands import (
    CancelWorkflowExecution,
    Command,
    CompleteWorkflowExecution,
    FailWorkflowExecution,
)

from .. import exceptions as exc_mod
from .._workflow_continue import ContinueAsNewRequest, continue_as_new_command
from .._workflow_info import Info
from ..converter import DataConverter
from ..exceptions import FailureError, error_to_failure
from .errors import WorkflowTaskError

__all__ = ["closing_command"]


def closing_command(
    run_task: asyncio.Task[Any] | None,
    *,
    closed: bool,
    task_failure: BaseException | None,
    workflow_failure: BaseException | None,
    cancel_requested: bool,
    failure_types: tuple[type[BaseException], ...],
    info: Info | None,
    converter: DataConverter,
) -> Command | None:
    """The command that closes the run after this activation (None: it goes on, or it is
    `closed` already). Raises
    WorkflowTaskError when workflow code failed with a bug (not a FailureError): Temporal fails
    the task, which is retried and can succeed after a fix, rather than the workflow."""
    if task_failure is not None and not isinstance(task_failure, failure_types):
        e = task_failure
        raise WorkflowTaskError(f"workflow code raised {e!r}", failure=error_to_failure(e)) from e
    if closed:
        return None
    if task_failure is not None:
        return FailWorkflowExecution(failure=error_to_failure(task_failure))
    if workflow_failure is not None:
        return FailWorkflowExecution(failure=error_to_failure(workflow_failure))
    if run_task is None or not run_task.done():
        return None
    if run_task.cancelled():
        if cancel_requested:
            return CancelWorkflowExecution()
        return FailWorkflowExecution(
            failure=error_to_failure(exc_mod.CancelledError("Workflow cancelled itself"))
        )
    err = run_task.exception()
    if err is None:
        return CompleteWorkflowExecution(result=converter.to_payloads([run_task.result()]))
    if isinstance(err, ContinueAsNewRequest):
        assert info is not None
        return continue_as_new_command(err.input, info, converter)
    if cancel_requested and _is_cancellation(err):
        return CancelWorkflowExecution()
    if isinstance(err, (FailureError, *failure_types)):
        return FailWorkflowExecution(failure=error_to_failure(err))
    raise WorkflowTaskError(f"workflow code raised {err!r}", failure=error_to_failure(err)) from err


def _is_cancellation(err: BaseException) -> bool:
    """The run ended because of the cancellation it was asked for (possibly wrapped, e.g. an
    ActivityError caused by the activity's cancellation)."""
    e: BaseException | None = err
    while e is not None:
        if isinstance(e, asyncio.CancelledError | exc_mod.CancelledError):
            return True
        e = e.__cause__
    return False
