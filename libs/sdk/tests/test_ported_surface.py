"""Pieces of temporalio's surface that ported code uses at once (issue 11): `cause`,
`RetryState`, `workflow.NondeterminismError`, `is_cancelled_exception`, `to_json_dict`,
`converter.default()`, `WorkflowIDConflictPolicy.UNSPECIFIED`. Behaviour inside workflows is
covered by tests/e2e/test_parity_gaps.py, embedded and on the real stack."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass

from tidal import activity, workflow
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


def test_is_cancelled_exception_as_temporalio_defines_it() -> None:
    import asyncio

    from tidal.exceptions import CancelledError, is_cancelled_exception

    wrapped = ActivityError()
    wrapped.__cause__ = CancelledError("activity cancelled")
    child = ChildWorkflowError()
    child.__cause__ = CancelledError()
    not_cancelled = ActivityError()
    not_cancelled.__cause__ = ApplicationError("boom")
    assert is_cancelled_exception(asyncio.CancelledError())
    assert is_cancelled_exception(CancelledError())
    assert is_cancelled_exception(wrapped) and is_cancelled_exception(child)
    assert not is_cancelled_exception(not_cancelled)
    assert not is_cancelled_exception(ActivityError())
    assert not is_cancelled_exception(ValueError("x"))


def test_history_to_json_dict_reads_back() -> None:
    from datetime import UTC, datetime

    from tidal.client import WorkflowHistory
    from tidal_schema import HistoryEvent, events

    ev = HistoryEvent(
        event_id=1,
        event_time=datetime(2026, 1, 1, tzinfo=UTC),
        attributes=events.WorkflowExecutionStarted(workflow_type="W", task_queue="q"),
    )
    history = WorkflowHistory("wf", [ev])
    data = history.to_json_dict()
    assert set(data) == {"events"}
    assert WorkflowHistory.from_json("wf", data).events == (ev,)


def test_converter_default_is_the_default_data_converter() -> None:
    from tidal import converter

    assert converter.default() is converter.DataConverter.default


async def test_unspecified_conflict_policy_is_the_servers_default_for_a_start() -> None:
    """temporalio's default member (start_workflow's default, as there) is sent as FAIL."""
    import inspect

    from tidal._start_options import StartOptions
    from tidal.client import Client
    from tidal.common import WorkflowIDConflictPolicy
    from tidal.converter import DataConverter

    unspecified = WorkflowIDConflictPolicy.UNSPECIFIED
    assert unspecified is not WorkflowIDConflictPolicy.FAIL
    assert inspect.signature(Client.start_workflow).parameters["id_conflict_policy"].default is unspecified
    body = await StartOptions(workflow_type="W", args=(), id="w", task_queue="q").body(DataConverter.default)
    assert body["id_conflict_policy"] == WorkflowIDConflictPolicy.FAIL.value


@dataclass
class Order:
    sku: str


class Shop:
    def __init__(self, prefix: str) -> None:
        self.prefix = prefix

    @activity.defn
    async def ship(self, order: Order) -> str:
        return f"{self.prefix}{order.sku}"


def test_an_activity_method_of_an_instance_is_called_bound_with_typed_arguments() -> None:
    """temporalio registers `activities=[obj.method]`; the worker used to call the plain function
    without `self` (TypeError on every attempt: the workflow waited forever) and to decode the
    first argument with `self`'s (missing) type."""
    shop = Shop("shipped ")
    defn = activity.get_definition(shop.ship)
    assert defn.name == "ship"
    assert defn.arg_types == [Order]
    assert asyncio.run(defn.fn(Order("a-1"))) == "shipped a-1"
    # The unbound function still names the activity for `workflow.execute_activity(Shop.ship, ...)`.
    assert activity.get_definition(Shop.ship).name == "ship"
