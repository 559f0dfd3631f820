"""UpsertWorkflowSearchAttributes in a workflow task completion: recorded as an event, or the
task fails with BadCommandAttributes when the attributes cannot be set."""

from datetime import UTC, datetime, timedelta

from tidal_history.api import complete_workflow_task, start_workflow
from tidal_history.mutation import Outcome
from tidal_history.operation import OperationContext
from tidal_schema import commands as cmd
from tidal_schema import events as ev
from tidal_schema.messages import CompleteWorkflowTask, StartWorkflowExecution

T0 = datetime(2026, 1, 1, tzinfo=UTC)


def _complete(*commands: cmd.Command, attrs: dict[str, object] | None = None) -> Outcome:
    start = start_workflow.handle(
        OperationContext(now=T0, current=None, new_run_id="run1", shard_id=0),
        StartWorkflowExecution(
            workflow_id="w1",
            workflow_type="Order",
            task_queue="q",
            request_id="r1",
            search_attributes=attrs or {},
        ),
    )
    assert start.state is not None
    msg = CompleteWorkflowTask(workflow_id="w1", run_id="run1", scheduled_event_id=2, commands=commands)
    return complete_workflow_task.handle(
        OperationContext(now=T0 + timedelta(seconds=1), state=start.state, history=list(start.events)), msg
    )


def test_upsert_is_recorded_as_an_event() -> None:
    o = _complete(
        cmd.UpsertWorkflowSearchAttributesCommand(search_attributes={"Stage": "packing", "Rank": None})
    )
    last = o.events[-1].attributes
    assert isinstance(last, ev.UpsertWorkflowSearchAttributes)
    assert last.search_attributes == {"Stage": "packing", "Rank": None}
    assert last.workflow_task_completed_event_id == o.events[-2].event_id


def test_bad_attributes_fail_the_task() -> None:
    for attrs, fragment in (
        ({"ExecutionStatus": "Done"}, "system attribute"),
        ({"Tags": ["a", "b"]}, "no search attribute type"),
        ({"Note": "nul\x00"}, "NUL"),
    ):
        # model_construct: the schema refuses a NUL at the edge now (limits.py); history's own
        # check stays as defence in depth for a command that was never validated.
        o = _complete(cmd.UpsertWorkflowSearchAttributesCommand.model_construct(search_attributes=attrs))
        failed = [e.attributes for e in o.events if isinstance(e.attributes, ev.WorkflowTaskFailed)]
        assert len(failed) == 1 and failed[0].cause == "BadCommandAttributes"
        assert failed[0].failure is not None and fragment in failed[0].failure.message
        assert not any(isinstance(e.attributes, ev.UpsertWorkflowSearchAttributes) for e in o.events)


def test_continue_as_new_carries_the_attributes_over() -> None:
    o = _complete(
        cmd.UpsertWorkflowSearchAttributesCommand(search_attributes={"Stage": "again", "Rank": None}),
        cmd.ContinueAsNewWorkflowExecution(workflow_type="Order", task_queue="q"),
        attrs={"CustomerId": "c-1", "Rank": 3},
    )
    assert o.successor is not None
    started = o.successor.events[0].attributes
    assert isinstance(started, ev.WorkflowExecutionStarted)
    assert started.search_attributes == {"CustomerId": "c-1", "Stage": "again"}
