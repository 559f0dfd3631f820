"""The close notification carries the run's outcome up to NOTIFY_OUTCOME_MAX_BYTES, and leaves it
out above (the frontend then reads it; tests/e2e/test_hops.py shows `result()` gets it)."""

from datetime import timedelta

from tidal_history.api import complete_workflow_task
from tidal_history.operation import OperationContext
from tidal_schema import Payload, WorkflowExecutionStatus
from tidal_schema import commands as cmd
from tidal_schema.limits import NOTIFY_OUTCOME_MAX_BYTES
from tidal_schema.messages import CompleteWorkflowTask, WorkflowClosed

from .test_transitions import T0, _outbox, _start


def _closed_with(result: str) -> WorkflowClosed:
    o = _start()
    assert o.state is not None
    o = complete_workflow_task.handle(
        OperationContext(now=T0 + timedelta(seconds=1), state=o.state, history=list(o.events)),
        CompleteWorkflowTask(
            workflow_id="w1",
            run_id="run1",
            scheduled_event_id=2,
            commands=(cmd.CompleteWorkflowExecution(result=(Payload(data=result),)),),
        ),
    )
    (closed,) = _outbox(o, WorkflowClosed)
    assert isinstance(closed, WorkflowClosed)
    return closed


def test_a_small_result_travels_with_the_notification() -> None:
    closed = _closed_with("done")
    assert closed.status is WorkflowExecutionStatus.COMPLETED and closed.has_outcome
    assert closed.result == (Payload(data="done"),)


def test_a_result_over_the_limit_is_left_out() -> None:
    closed = _closed_with("x" * NOTIFY_OUTCOME_MAX_BYTES)
    assert not closed.has_outcome and closed.result is None
    assert len(closed.model_dump_json()) < 1024
