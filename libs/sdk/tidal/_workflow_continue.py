"""Continue-as-new from workflow code: part of `tidal.workflow`'s API (re-exported there;
mirrors temporalio.workflow)."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import timedelta
from typing import Any, NoReturn

from ._definitions import get_definition
from ._workflow_context import _MISSING, _rt

__all__ = ["ContinueAsNewError", "continue_as_new"]


class ContinueAsNewError(BaseException):
    """Raised by `continue_as_new`; a BaseException so `except Exception` in workflow code does not
    swallow it. The runtime turns it into a ContinueAsNewWorkflowExecution command."""

    def __init__(
        self,
        *,
        args: Sequence[Any],
        workflow: str | None,
        task_queue: str | None,
        run_timeout: timedelta | None,
        task_timeout: timedelta | None,
    ) -> None:
        super().__init__("Continue as new")
        self.input_args = list(args)
        self.workflow = workflow
        self.task_queue = task_queue
        self.run_timeout = run_timeout
        self.task_timeout = task_timeout


def continue_as_new(
    arg: Any = _MISSING,
    *,
    args: Sequence[Any] = (),
    task_queue: str | None = None,
    run_timeout: timedelta | None = None,
    task_timeout: timedelta | None = None,
    workflow: type | str | None = None,
) -> NoReturn:
    """End this run and start a new one of the same workflow id with fresh history."""
    _rt()  # only meaningful inside workflow code
    if arg is not _MISSING:
        args = [arg]
    name = workflow if isinstance(workflow, str) or workflow is None else get_definition(workflow).name
    raise ContinueAsNewError(
        args=args, workflow=name, task_queue=task_queue, run_timeout=run_timeout, task_timeout=task_timeout
    )
