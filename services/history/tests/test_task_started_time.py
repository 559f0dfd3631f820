"""WorkflowTaskStarted records when the worker took the task (the task's `workflow.now()`), kept
between the task's scheduling and one hour past history's clock (mutation.end_workflow_task)."""

from datetime import UTC, datetime, timedelta

import pytest
from tidal_history.api import complete_workflow_task, start_workflow
from tidal_history.mutation import MAX_WORKER_CLOCK_AHEAD
from tidal_history.operation import OperationContext
from tidal_schema import events as ev
from tidal_schema.messages import CompleteWorkflowTask, StartWorkflowExecution

T0 = datetime(2026, 1, 1, tzinfo=UTC)
DONE = T0 + timedelta(seconds=30)  # history's clock at the completion


def _recorded(started: datetime | None) -> datetime | None:
    o = start_workflow.handle(
        OperationContext(now=T0, current=None, new_run_id="run", shard_id=0),
        StartWorkflowExecution(workflow_id="w", workflow_type="T", task_queue="q", request_id="r"),
    )
    assert o.state is not None and o.state.workflow_task is not None
    done = complete_workflow_task.handle(
        OperationContext(now=DONE, state=o.state, history=list(o.events)),
        CompleteWorkflowTask(
            workflow_id="w",
            run_id="run",
            scheduled_event_id=o.state.workflow_task.scheduled_event_id,
            started_time=started,
        ),
    )
    (event,) = [e for e in done.events if isinstance(e.attributes, ev.WorkflowTaskStarted)]
    assert isinstance(event.attributes, ev.WorkflowTaskStarted)
    assert event.event_time == DONE  # written with the outcome
    return event.attributes.started_time


@pytest.mark.parametrize(
    ("sent", "recorded"),
    [
        (T0 + timedelta(seconds=12), T0 + timedelta(seconds=12)),  # as the worker used it
        (T0 - timedelta(seconds=5), T0),  # not before the task was scheduled
        (DONE + timedelta(days=2), DONE + MAX_WORKER_CLOCK_AHEAD),  # a clock far ahead is cut
        (None, None),  # an older worker: replays use the scheduled time
    ],
)
def test_the_started_time_is_the_workers_within_bounds(
    sent: datetime | None, recorded: datetime | None
) -> None:
    assert _recorded(sent) == recorded
