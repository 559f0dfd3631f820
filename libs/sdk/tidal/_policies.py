"""Workflow id policies (re-exported from `tidal.common`, as in `temporalio.common`)."""

from __future__ import annotations

from enum import Enum, IntEnum

from tidal_schema import WorkflowIdConflictPolicy, WorkflowIdReusePolicy


class WorkflowIDReusePolicy(Enum):
    ALLOW_DUPLICATE = WorkflowIdReusePolicy.ALLOW_DUPLICATE.value
    ALLOW_DUPLICATE_FAILED_ONLY = WorkflowIdReusePolicy.ALLOW_DUPLICATE_FAILED_ONLY.value
    REJECT_DUPLICATE = WorkflowIdReusePolicy.REJECT_DUPLICATE.value
    TERMINATE_IF_RUNNING = WorkflowIdReusePolicy.TERMINATE_IF_RUNNING.value


class WorkflowIDConflictPolicy(Enum):
    FAIL = WorkflowIdConflictPolicy.FAIL.value
    USE_EXISTING = WorkflowIdConflictPolicy.USE_EXISTING.value
    TERMINATE_EXISTING = WorkflowIdConflictPolicy.TERMINATE_EXISTING.value
    # temporalio's default, "let the server decide", which for a start is FAIL: sent as FAIL.
    UNSPECIFIED = "Unspecified"

    def wire_value(self) -> str:
        """What the server is sent (it knows no Unspecified)."""
        return (
            WorkflowIdConflictPolicy.FAIL.value
            if self is WorkflowIDConflictPolicy.UNSPECIFIED
            else self.value
        )


class QueryRejectCondition(IntEnum):
    """When the server refuses a query instead of running it (temporalio's; Temporal's numbers):
    NOT_OPEN refuses a closed run, NOT_COMPLETED_CLEANLY one that did not complete (failed,
    cancelled, terminated, timed out). Refused queries raise `WorkflowQueryRejectedError`."""

    NONE = 1
    NOT_OPEN = 2
    NOT_COMPLETED_CLEANLY = 3
