"""Temporal's query reject conditions, as the frontend applies them before asking a worker."""

from __future__ import annotations

import pytest
from tidal_frontend.operations.query_workflow import rejects
from tidal_schema import WorkflowExecutionStatus as S

CLOSED_UNCLEANLY = [S.FAILED, S.CANCELED, S.TERMINATED, S.TIMED_OUT, S.CONTINUED_AS_NEW]


@pytest.mark.parametrize("condition", [None, "None", "NotOpen", "NotCompletedCleanly"])
def test_a_running_run_is_always_queried(condition: str | None) -> None:
    assert not rejects(condition, S.RUNNING)


@pytest.mark.parametrize("status", [S.COMPLETED, *CLOSED_UNCLEANLY])
def test_not_open_refuses_every_closed_run(status: S) -> None:
    assert rejects("NotOpen", status)
    assert not rejects(None, status) and not rejects("None", status)


def test_not_completed_cleanly_lets_only_completed_runs_through() -> None:
    assert not rejects("NotCompletedCleanly", S.COMPLETED)
    for status in CLOSED_UNCLEANLY:
        assert rejects("NotCompletedCleanly", status), status
