"""History refused a task's close because signals arrived while it ran (WorkflowTaskFailed with
cause UnhandledCommand, the signals, a new task): the instance that ran the refused task is stale,
and a replay from the full history sees every signal and closes again, with no nondeterminism."""

from __future__ import annotations

import pytest
from tidal import workflow
from tidal._runtime import StaleInstanceError, WorkflowInstance
from tidal._runtime.history_builder import HistoryBuilder
from tidal_schema import Failure, commands, events


@workflow.defn
class Entity:
    def __init__(self) -> None:
        self.seen: list[int] = []

    @workflow.signal
    def add(self, n: int) -> None:
        self.seen.append(n)

    @workflow.run
    async def run(self, carried: list[int]) -> None:
        await workflow.wait_condition(lambda: len(self.seen) >= 3)
        workflow.continue_as_new(args=[carried + self.seen])


def _instance(h: HistoryBuilder) -> WorkflowInstance:
    return WorkflowInstance(
        definition=workflow.get_definition(Entity),
        namespace="default",
        workflow_id=h.workflow_id,
        run_id=h.run_id,
    )


def _refuse(h: HistoryBuilder) -> None:
    """What history writes for a refused completion (api/complete_workflow_task.py)."""
    sched = h.last_event_id
    started = h.add(events.WorkflowTaskStarted(scheduled_event_id=sched)).event_id
    h.add(
        events.WorkflowTaskFailed(
            scheduled_event_id=sched,
            started_event_id=started,
            cause="UnhandledCommand",
            failure=Failure(message="new events arrived", type="UnhandledCommand"),
        )
    )


def test_a_refused_continue_as_new_is_replayed_with_the_signals_it_missed() -> None:
    h = HistoryBuilder("Entity", [])
    cached = _instance(h)
    assert cached.activate(h.task()) == ()
    h.complete_task(())
    for n in (1, 2, 3):
        h.signal("add", n)
    h.schedule_task()
    (can,) = cached.activate(h.task(first_event_id=cached.last_event_id + 1))
    assert isinstance(can, commands.ContinueAsNewWorkflowExecution)

    _refuse(h)  # signal 4 arrived while the task was out
    h.signal("add", 4)
    h.schedule_task()

    with pytest.raises(StaleInstanceError):
        cached.activate(h.task(first_event_id=cached.last_event_id + 1))
    fresh = _instance(h)
    (again,) = fresh.activate(h.task())
    assert isinstance(again, commands.ContinueAsNewWorkflowExecution)
    assert h.converter.from_payloads(again.input, [list[int]]) == [[1, 2, 3, 4]]
