"""temporalio's exception surface on Tidal's errors (issue 11): `cause`, `RetryState`, and
`workflow.NondeterminismError`."""

from __future__ import annotations

from tidal import workflow
from tidal.exceptions import (
    ActivityError,
    ApplicationError,
    ChildWorkflowError,
    NondeterminismError,
    RetryState,
    WorkflowFailureError,
    error_to_failure,
    failure_to_error,
)


def test_cause_is_the_chained_error_on_every_tidal_error() -> None:
    err = ActivityError(retry_state="NonRetryableFailure")
    assert err.cause is None
    err.__cause__ = ApplicationError("boom", type="Boom")
    assert err.cause is err.__cause__
    assert WorkflowFailureError(cause=err).cause is err
    assert NondeterminismError("x").cause is None


def test_retry_state_is_the_enum_and_survives_a_round_trip() -> None:
    err = ChildWorkflowError(retry_state=RetryState.TIMEOUT, workflow_id="c")
    err.__cause__ = ApplicationError("late")
    back = failure_to_error(error_to_failure(err))
    assert isinstance(back, ChildWorkflowError)
    assert back.retry_state is RetryState.TIMEOUT
    assert back.retry_state == "Timeout"  # the recorded string still compares equal
    assert isinstance(back.cause, ApplicationError)


def test_an_unknown_retry_state_reads_as_none_rather_than_failing() -> None:
    assert ActivityError(retry_state="SomethingNewer").retry_state is None
    assert ActivityError(retry_state="\x00").retry_state is None


def test_retry_state_members_are_temporalios() -> None:
    import pytest

    temporal = pytest.importorskip("temporalio.exceptions")
    assert [m.name for m in RetryState] == [m.name for m in temporal.RetryState]


def test_nondeterminism_error_is_where_temporalio_has_it() -> None:
    assert workflow.NondeterminismError is NondeterminismError
