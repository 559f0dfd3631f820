"""Errors of client calls that temporalio defines in `temporalio.client` (re-exported by
`tidal.client`; the rest of the tree is in `tidal.exceptions`)."""

from __future__ import annotations

from .exceptions import RPCError, TidalError

__all__ = [
    "RPCTimeoutOrCancelledError",
    "WorkflowContinuedAsNewError",
    "WorkflowUpdateRPCTimeoutOrCancelledError",
]


class WorkflowContinuedAsNewError(TidalError):
    """`result(follow_runs=False)` found that the run continued as new (temporalio's):
    `new_execution_run_id` is the run it continued to."""

    def __init__(self, new_execution_run_id: str) -> None:
        super().__init__("Workflow continued as new")
        self._new_execution_run_id = new_execution_run_id

    @property
    def new_execution_run_id(self) -> str:
        return self._new_execution_run_id


class RPCTimeoutOrCancelledError(RPCError):
    """A call ran out of its time (`rpc_timeout`, or the HTTP client's timeout) before the
    server answered (temporalio's). Also an `RPCError` with status `deadline_exceeded`, so code
    that catches `RPCError` keeps working."""

    def __init__(self, message: str = "Timeout or cancellation of the call") -> None:
        super().__init__(message, status="deadline_exceeded")


class WorkflowUpdateRPCTimeoutOrCancelledError(RPCTimeoutOrCancelledError):
    """Waiting for an update's stage ran out of `rpc_timeout` (the update itself goes on)."""

    def __init__(self) -> None:
        super().__init__("Timeout or cancellation waiting for update")
