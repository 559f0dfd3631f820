"""Workflow runtime: activities, replay, sticky activation, timers."""

from __future__ import annotations

import asyncio
from datetime import timedelta

import pytest
from tidal import activity, workflow
from tidal._runtime import WorkflowInstance
from tidal._runtime.history_builder import HistoryBuilder
from tidal.exceptions import ActivityError, ApplicationError, error_to_failure
from tidal_schema import commands

T = timedelta(seconds=10)


@activity.defn
async def greet(name: str) -> str:
    return f"hello {name}"


@activity.defn(name="shout")
def shout_activity(text: str) -> str:
    return text.upper()


@workflow.defn
class OneActivity:
    @workflow.run
    async def run(self, name: str) -> str:
        return await workflow.execute_activity(greet, name, start_to_close_timeout=T)


@workflow.defn
class TwoParallel:
    @workflow.run
    async def run(self) -> list[str]:
        a = workflow.execute_activity(greet, "a", start_to_close_timeout=T)
        b = workflow.execute_activity(shout_activity, "b", start_to_close_timeout=T)
        return list(await asyncio.gather(a, b))


@workflow.defn
class CatchFailure:
    @workflow.run
    async def run(self) -> str:
        try:
            await workflow.execute_activity("charge", args=["x", 1], schedule_to_close_timeout=T)
        except ActivityError as e:
            assert isinstance(e.__cause__, ApplicationError)
            return f"caught {e.activity_type}/{e.activity_id}: {e.__cause__.type}: {e.__cause__.message}"
        return "not failed"


@workflow.defn
class Sleeper:
    @workflow.run
    async def run(self, use_asyncio: bool) -> float:
        start = workflow.time()
        if use_asyncio:
            await asyncio.sleep(1)
        else:
            await workflow.sleep(timedelta(seconds=1))
        return workflow.time() - start


def new_instance(cls: type, h: HistoryBuilder) -> WorkflowInstance:
    return WorkflowInstance(
        definition=workflow.get_definition(cls),
        namespace="default",
        workflow_id=h.workflow_id,
        run_id=h.run_id,
    )


def test_one_activity_first_run_then_completion() -> None:
    h = HistoryBuilder("OneActivity", "bob")
    inst = new_instance(OneActivity, h)
    cmds = inst.activate(h.task())
    assert len(cmds) == 1
    cmd = cmds[0]
    assert isinstance(cmd, commands.ScheduleActivityTask)
    assert (cmd.activity_id, cmd.activity_type, cmd.task_queue) == ("1", "greet", "default")
    assert cmd.input[0].data == "bob"
    assert cmd.start_to_close_timeout == T
    assert inst.last_event_id == 2

    h.complete_task(cmds)
    h.activity_completed("1", "hello bob")
    h.schedule_task()
    # Sticky: the cached instance gets only the new events.
    cmds2 = inst.activate(h.task(first_event_id=inst.last_event_id + 1))
    assert cmds2 == (commands.CompleteWorkflowExecution(result=(h.converter.to_payload("hello bob"),)),)
    assert inst.is_closed
    assert inst.last_event_id == h.last_event_id


def test_full_history_replay_in_fresh_instance() -> None:
    h = HistoryBuilder("OneActivity", "bob")
    first = new_instance(OneActivity, h)
    cmds = first.activate(h.task())
    h.complete_task(cmds)
    h.activity_completed("1", "hello bob")
    h.schedule_task()

    fresh = new_instance(OneActivity, h)
    cmds2 = fresh.activate(h.task())
    # No second ScheduleActivityTask: replay confirmed it against event 5.
    assert [c.type for c in cmds2] == ["CompleteWorkflowExecution"]
    assert cmds2[0].result[0].data == "hello bob"  # type: ignore[union-attr]


def test_sticky_instance_does_not_activate_a_task_twice() -> None:
    h = HistoryBuilder("Sleeper", False)
    inst = new_instance(Sleeper, h)
    cmds = inst.activate(h.task())
    assert [c.type for c in cmds] == ["StartTimer"]
    h.complete_task(cmds)
    # A signal-less new task (e.g. server-forced): the cached instance just confirms and idles.
    h.schedule_task()
    assert inst.activate(h.task(first_event_id=inst.last_event_id + 1)) == ()
    h.complete_task([])
    h.advance(1)
    h.timer_fired("1")
    h.schedule_task()
    out = inst.activate(h.task(first_event_id=inst.last_event_id + 1))
    assert [c.type for c in out] == ["CompleteWorkflowExecution"]


@pytest.mark.parametrize("use_asyncio", [False, True])
def test_timer_via_workflow_sleep_and_asyncio_sleep(use_asyncio: bool) -> None:
    h = HistoryBuilder("Sleeper", use_asyncio)
    inst = new_instance(Sleeper, h)
    cmds = inst.activate(h.task())
    assert cmds == (commands.StartTimer(timer_id="1", start_to_fire_timeout=timedelta(seconds=1)),)
    h.complete_task(cmds)
    h.advance(1)
    h.timer_fired("1")
    h.schedule_task()
    out = inst.activate(h.task(first_event_id=inst.last_event_id + 1))
    assert out == (commands.CompleteWorkflowExecution(result=(h.converter.to_payload(1.0),)),)
    # And the same from scratch.
    replayed = new_instance(Sleeper, h).activate(h.task())
    assert replayed == out


def test_activity_failure_is_activity_error_with_application_cause() -> None:
    h = HistoryBuilder("CatchFailure")
    inst = new_instance(CatchFailure, h)
    cmds = inst.activate(h.task())
    assert cmds[0].type == "ScheduleActivityTask"
    assert cmds[0].input[0].data == "x" and cmds[0].input[1].data == 1  # type: ignore[union-attr]
    h.complete_task(cmds)
    h.activity_failed("1", error_to_failure(ApplicationError("card declined", type="Declined")))
    h.schedule_task()
    out = inst.activate(h.task(first_event_id=inst.last_event_id + 1))
    assert out[0].type == "CompleteWorkflowExecution"
    assert out[0].result[0].data == "caught charge/1: Declined: card declined"  # type: ignore[union-attr]


def test_uncaught_activity_error_fails_the_workflow_with_cause_chain() -> None:
    h = HistoryBuilder("OneActivity", "bob")
    inst = new_instance(OneActivity, h)
    h.complete_task(inst.activate(h.task()))
    h.activity_failed("1", error_to_failure(ApplicationError("boom", type="Boom")))
    h.schedule_task()
    (out,) = inst.activate(h.task(first_event_id=inst.last_event_id + 1))
    assert isinstance(out, commands.FailWorkflowExecution)
    assert out.failure.kind == "activity"
    assert out.failure.cause is not None and out.failure.cause.type == "Boom"


def test_gather_two_activities() -> None:
    h = HistoryBuilder("TwoParallel")
    inst = new_instance(TwoParallel, h)
    cmds = inst.activate(h.task())
    assert [(c.activity_id, c.activity_type) for c in cmds] == [("1", "greet"), ("2", "shout")]  # type: ignore[union-attr]
    h.complete_task(cmds)
    # Completions in the reverse order: results still line up with gather's arguments.
    h.activity_completed("2", "B")
    h.schedule_task()
    assert inst.activate(h.task(first_event_id=inst.last_event_id + 1)) == ()
    h.complete_task([])
    h.activity_completed("1", "hello a")
    h.schedule_task()
    out = inst.activate(h.task(first_event_id=inst.last_event_id + 1))
    assert out[0].result[0].data == ["hello a", "B"]  # type: ignore[union-attr]
    assert new_instance(TwoParallel, h).activate(h.task()) == out


def test_execute_activity_needs_a_timeout() -> None:
    @workflow.defn
    class NoTimeout:
        @workflow.run
        async def run(self) -> None:
            await workflow.execute_activity(greet, "x")

    h = HistoryBuilder("NoTimeout")
    inst = WorkflowInstance(
        definition=workflow.get_definition(NoTimeout), namespace="d", workflow_id="w", run_id="r"
    )
    from tidal._runtime import WorkflowTaskError

    with pytest.raises(WorkflowTaskError) as ei:
        inst.activate(h.task())
    assert isinstance(ei.value.__cause__, ValueError)
    assert "start_to_close_timeout" in str(ei.value.__cause__)
