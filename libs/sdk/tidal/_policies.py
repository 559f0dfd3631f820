"""Workflow id policies (re-exported from `tidal.common`, as in `temporalio.common`)."""

from __future__ import annotations

from enum import Enum

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
    # temporalio's "let the server decide", which for a start is FAIL: an alias of it here, so a
    # ported `UNSPECIFIED` sends what the server would have chosen.
    UNSPECIFIED = WorkflowIdConflictPolicy.FAIL.value
