"""Workflow runtime: plain asyncio in workflow code, cancellation, continue-as-new, logging."""

from __future__ import annotations

import asyncio
import logging
from datetime import timedelta

import pytest
from tidal import workflow
from tidal._runtime import WorkflowInstance
from tidal._runtime.history_builder import HistoryBuilder
from tidal_schema import commands

T = timedelta(seconds=10)


def new_instance(cls: type, h: HistoryBuilder) -> WorkflowInstance:
    defn = workflow.get_definition(cls)
    return WorkflowInstance(definition=defn, namespace="default", workflow_id=h.workflow_id, run_id=h.run_id)


def sticky(inst: WorkflowInstance, h: HistoryBuilder) -> tuple[commands.Command, ...]:
    return inst.activate(h.task(first_event_id=inst.last_event_id + 1))


@workflow.defn
class RaceWorkflow:
    @workflow.run
    async def run(self) -> str:
        slow = asyncio.create_task(workflow.execute_activity("slow", start_to_close_timeout=T))
        try:
            return await asyncio.wait_for(slow, timeout=2)
        except TimeoutError:
            return "gave up"


@workflow.defn
class Looper:
    @workflow.run
    async def run(self, n: int) -> None:
        workflow.logger.info("iteration %d", n)
        await workflow.sleep(1)
        workflow.continue_as_new(n + 1)


def test_wait_for_timeout_cancels_the_activity() -> None:
    h = HistoryBuilder("RaceWorkflow")
    inst = new_instance(RaceWorkflow, h)
    cmds = inst.activate(h.task())
    # create_task only starts the activity coroutine on the next loop turn: the timer comes first.
    assert [c.type for c in cmds] == ["StartTimer", "ScheduleActivityTask"]
    h.complete_task(cmds)
    h.advance(2)
    h.timer_fired("1")
    h.schedule_task()
    out = sticky(inst, h)
    # Try-cancel: the activity is asked to stop and the workflow carries on at once.
    assert out[0] == commands.RequestCancelActivityTask(scheduled_event_id=6)
    assert out[1] == commands.CompleteWorkflowExecution(result=(h.converter.to_payload("gave up"),))
    assert new_instance(RaceWorkflow, h).activate(h.task()) == out


def test_activity_finishing_first_cancels_the_timer() -> None:
    h = HistoryBuilder("RaceWorkflow")
    inst = new_instance(RaceWorkflow, h)
    h.complete_task(inst.activate(h.task()))
    h.activity_completed("1", "fast")
    h.schedule_task()
    out = sticky(inst, h)
    assert out == (
        commands.CancelTimer(timer_id="1"),
        commands.CompleteWorkflowExecution(result=(h.converter.to_payload("fast"),)),
    )


def test_continue_as_new_and_replay_silent_logger(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, logger="tidal.workflow")
    h = HistoryBuilder("Looper", 1)
    inst = new_instance(Looper, h)
    h.complete_task(inst.activate(h.task()))
    records = [r for r in caplog.records if "iteration" in r.getMessage()]
    # temporalio's details, on the message and in `extra`.
    details = {
        "attempt": 1,
        "namespace": "default",
        "run_id": "run-1",
        "task_queue": "default",
        "workflow_id": "wf-1",
        "workflow_type": "Looper",
    }
    assert [r.getMessage() for r in records] == [f"iteration 1 ({details})"]
    assert records[0].temporal_workflow == details and records[0].workflow_id == "wf-1"
    h.timer_fired("1")
    h.schedule_task()
    (out,) = sticky(inst, h)
    assert isinstance(out, commands.ContinueAsNewWorkflowExecution)
    assert (out.workflow_type, out.task_queue, out.input[0].data) == ("Looper", "default", 2)

    caplog.clear()
    assert new_instance(Looper, h).activate(h.task()) == (out,)
    assert not [r for r in caplog.records if "iteration" in r.getMessage()]  # replayed: not logged again


def test_workflow_api_outside_a_workflow_raises() -> None:
    with pytest.raises(RuntimeError, match="Not in workflow"):
        workflow.now()
    assert not workflow.in_workflow()


def test_redelivered_task_gets_the_same_commands_without_rerunning() -> None:
    h = HistoryBuilder("Looper", 1)
    inst = new_instance(Looper, h)
    first = inst.activate(h.task())
    assert inst.activate(h.task()) == first  # duplicate delivery of task 2
    h.complete_task(first)
    h.timer_fired("1")
    h.schedule_task()
    assert [c.type for c in sticky(inst, h)] == ["ContinueAsNewWorkflowExecution"]
