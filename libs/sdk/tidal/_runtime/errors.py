"""How an activation can fail, for the worker to act on (re-exported by `instance.py`)."""

from __future__ import annotations

from tidal_schema import Failure

from .. import exceptions as exc_mod

__all__ = ["StaleInstanceError", "WorkflowTaskError"]


class WorkflowTaskError(exc_mod.TidalError):
    """The workflow *task* failed (the workflow did not): report `FailWorkflowTask(failure=...,
    cause=...)`, evict the instance, and let the server retry the task. The original exception
    (a bug in workflow code, a NondeterminismError) is `__cause__`."""

    def __init__(self, message: str, *, failure: Failure, cause: str = "WorkflowWorkerUnhandledFailure"):
        super().__init__(message)
        self.failure = failure
        # FailWorkflowTask's cause (a string); `.cause` is the chained error, as on every TidalError.
        self.task_failure_cause = cause


class StaleInstanceError(exc_mod.TidalError):
    """This cached instance cannot apply the task (events do not follow `last_event_id`, or a task it
    completed itself failed or timed out). Evict it and replay the run from its full history."""
