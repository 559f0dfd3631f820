"""Workflow runtime: signals, conditions, workflow time, nondeterminism and failure semantics."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta

import pytest
from tidal import workflow
from tidal._runtime import StaleInstanceError, WorkflowInstance, WorkflowTaskError
from tidal._runtime.history_builder import HistoryBuilder
from tidal.exceptions import ApplicationError, NondeterminismError
from tidal_schema import commands

T = timedelta(seconds=10)


def new_instance(cls: type, h: HistoryBuilder) -> WorkflowInstance:
    return WorkflowInstance(
        definition=workflow.get_definition(cls),
        namespace="default",
        workflow_id=h.workflow_id,
        run_id=h.run_id,
    )


def sticky(inst: WorkflowInstance, h: HistoryBuilder) -> tuple[commands.Command, ...]:
    return inst.activate(h.task(first_event_id=inst.last_event_id + 1))


@workflow.defn
class Collector:
    def __init__(self) -> None:
        self.items: list[str] = []
        self.done = False

    @workflow.run
    async def run(self) -> list[str]:
        await workflow.wait_condition(lambda: self.done)
        return self.items

    @workflow.signal
    def add(self, item: str) -> None:
        self.items.append(item)

    @workflow.signal(name="finish")
    async def finish_signal(self) -> None:
        self.done = True

    @workflow.query
    def count(self) -> int:
        return len(self.items)


@workflow.defn
class Clock:
    @workflow.run
    async def run(self) -> list[str]:
        seen = [workflow.now().isoformat(), str(workflow.uuid4()), str(workflow.random().random())]
        await workflow.sleep(5)
        seen.append(workflow.now().isoformat())
        return seen


@workflow.defn
class Timeout:
    @workflow.run
    async def run(self) -> str:
        try:
            await workflow.wait_condition(lambda: False, timeout=3)
        except TimeoutError:
            return "timed out"
        return "no"


@workflow.defn(name="Changing")
class ChangedToTimer:
    @workflow.run
    async def run(self) -> None:
        await workflow.sleep(1)


@workflow.defn(name="Changing")
class OriginalActivity:
    @workflow.run
    async def run(self) -> None:
        await workflow.execute_activity("a", start_to_close_timeout=T)


@workflow.defn(name="Changing")
class Patched:
    @workflow.run
    async def run(self) -> None:
        if workflow.patched("use-timer"):
            await workflow.sleep(1)
        else:
            await workflow.execute_activity("a", start_to_close_timeout=T)


@workflow.defn
class Buggy:
    @workflow.run
    async def run(self, kind: str) -> None:
        if kind == "bug":
            raise KeyError("oops")
        raise ApplicationError("business failure", {"order": 1}, type="Rejected", non_retryable=True)


def test_signals_handled_in_order_and_wait_condition() -> None:
    h = HistoryBuilder("Collector")
    h.signal("add", "a")  # signal-with-start: in the first task, before run() starts
    h.schedule_task()  # (a second WFTScheduled is fine: the task is the last one)
    inst = new_instance(Collector, h)
    assert inst.activate(h.task()) == ()
    assert inst.query("count").data == 1
    h.complete_task([])
    h.signal("add", "b")
    h.signal("add", "c")
    h.signal("finish")
    h.schedule_task()
    out = sticky(inst, h)
    assert out == (commands.CompleteWorkflowExecution(result=(h.converter.to_payload(["a", "b", "c"]),)),)
    assert new_instance(Collector, h).activate(h.task()) == out


def test_signals_written_before_the_task_started_are_in_its_activation_and_replay() -> None:
    # Temporal's order: inputs that arrive while a task waits for a worker come before its
    # WorkflowTaskStarted and the task carries them, so its activation sees them (on replay too).
    h = HistoryBuilder("Collector")
    h.signal("add", "a")
    h.signal("add", "b")
    inst = new_instance(Collector, h)
    assert inst.activate(h.task()) == ()
    assert inst.query("count").data == 2
    h.complete_task([])
    h.signal("add", "c")  # after the task started: the next task's
    h.signal("finish")
    h.schedule_task()
    (out,) = new_instance(Collector, h).activate(h.task())
    assert out == commands.CompleteWorkflowExecution(result=out.result)  # type: ignore[union-attr]
    assert out.result[0].data == ["a", "b", "c"]  # type: ignore[union-attr]
    assert [c.type for c in sticky(inst, h)] == ["CompleteWorkflowExecution"]


def test_a_task_sent_again_with_more_events_replays_from_scratch() -> None:
    # History refuses a completion that missed inputs written before the task started and sends
    # the task again with them: the instance that ran it without them must not answer from cache.
    h = HistoryBuilder("Collector")
    inst = new_instance(Collector, h)
    first = h.task()
    assert inst.activate(first) == ()
    assert inst.activate(first) == ()  # a redelivered copy is answered from the cache
    h.signal("add", "late")
    with pytest.raises(StaleInstanceError, match="came again with more events"):
        inst.activate(h.task(first_event_id=inst.last_event_id + 1))
    fresh = new_instance(Collector, h)
    fresh.activate(h.task())
    assert fresh.query("count").data == 1


def test_now_is_task_scheduled_time_and_stable_on_replay() -> None:
    start = datetime(2024, 5, 1, 12, 0, tzinfo=UTC)
    h = HistoryBuilder("Clock", start_time=start, run_id="run-xyz")
    inst = new_instance(Clock, h)
    cmds = inst.activate(h.task())
    h.complete_task(cmds)
    h.advance(5)
    h.timer_fired("1")
    h.advance(0.25)  # the task is scheduled a bit after the fire; now() is that time
    h.schedule_task()
    (out,) = sticky(inst, h)
    seen = out.result[0].data  # type: ignore[union-attr]
    assert seen[0] == start.isoformat()
    assert seen[3] == (start + timedelta(seconds=5.25)).isoformat()
    (replayed,) = new_instance(Clock, h).activate(h.task())
    assert replayed.result[0].data == seen  # type: ignore[union-attr]  # same uuid, random, times


def test_wait_condition_timeout_is_a_durable_timer() -> None:
    h = HistoryBuilder("Timeout")
    inst = new_instance(Timeout, h)
    cmds = inst.activate(h.task())
    assert cmds == (commands.StartTimer(timer_id="1", start_to_fire_timeout=timedelta(seconds=3)),)
    h.complete_task(cmds)
    h.advance(3)
    h.timer_fired("1")
    h.schedule_task()
    assert sticky(inst, h)[0].result[0].data == "timed out"  # type: ignore[union-attr]


def test_changed_code_raises_nondeterminism_naming_event_and_command() -> None:
    h = HistoryBuilder("Changing")
    h.complete_task(new_instance(OriginalActivity, h).activate(h.task()))
    h.activity_completed("1")
    h.schedule_task()
    with pytest.raises(WorkflowTaskError) as ei:
        new_instance(ChangedToTimer, h).activate(h.task())
    err = ei.value.__cause__
    assert isinstance(err, NondeterminismError)
    msg = str(err)
    assert "event 5 ActivityTaskScheduled(activity_id='1'" in msg
    assert "StartTimer(timer_id='1')" in msg
    assert "workflow.patched()" in msg
    assert ei.value.task_failure_cause == "NonDeterministicError"
    assert ei.value.failure.message == msg


def test_extra_command_without_history_event_is_nondeterminism() -> None:
    h = HistoryBuilder("Changing")
    h.complete_task([])  # the original code produced nothing in its first task
    h.schedule_task()
    with pytest.raises(WorkflowTaskError, match="has no such event"):
        new_instance(ChangedToTimer, h).activate(h.task())


def test_patched_keeps_old_histories_replaying_and_takes_new_path_for_new_runs() -> None:
    old = HistoryBuilder("Changing")
    old.complete_task(new_instance(OriginalActivity, old).activate(old.task()))
    old.activity_completed("1")
    old.schedule_task()
    assert [c.type for c in new_instance(Patched, old).activate(old.task())] == ["CompleteWorkflowExecution"]

    new = HistoryBuilder("Changing")
    cmds = new_instance(Patched, new).activate(new.task())
    assert [c.type for c in cmds] == ["RecordMarker", "StartTimer"]
    new.complete_task(cmds)
    new.timer_fired("1")
    new.schedule_task()
    assert [c.type for c in new_instance(Patched, new).activate(new.task())] == ["CompleteWorkflowExecution"]


def test_unexpected_exception_fails_task_application_error_fails_workflow() -> None:
    h = HistoryBuilder("Buggy", "bug")
    with pytest.raises(WorkflowTaskError) as ei:
        inst = new_instance(Buggy, h)
        inst.activate(h.task())
    assert isinstance(ei.value.__cause__, KeyError)
    assert ei.value.failure.type == "KeyError" and "oops" in ei.value.failure.message
    assert "raise KeyError" in ei.value.failure.stack_trace
    with pytest.raises(StaleInstanceError):  # a failed instance must be replaced
        inst.activate(h.task())

    h2 = HistoryBuilder("Buggy", "business")
    (out,) = new_instance(Buggy, h2).activate(h2.task())
    assert isinstance(out, commands.FailWorkflowExecution)
    f = out.failure
    assert (f.kind, f.type, f.message, f.non_retryable) == (
        "application",
        "Rejected",
        "business failure",
        True,
    )
    assert f.details[0].data == {"order": 1}


def test_failed_task_attempt_does_not_count_on_replay() -> None:
    h = HistoryBuilder("Collector")
    h.fail_task()
    h.signal("finish")
    h.schedule_task()
    out = new_instance(Collector, h).activate(h.task())
    assert [c.type for c in out] == ["CompleteWorkflowExecution"]


def test_cancel_request_cancels_the_run() -> None:
    h = HistoryBuilder("Clock")
    inst = new_instance(Clock, h)
    h.complete_task(inst.activate(h.task()))
    h.cancel_requested()
    h.schedule_task()
    assert sticky(inst, h) == (commands.CancelTimer(timer_id="1"), commands.CancelWorkflowExecution())


async def test_activate_inside_a_running_loop_restores_it() -> None:
    outer = asyncio.get_running_loop()
    h = HistoryBuilder("Clock")
    inst = new_instance(Clock, h)
    assert [c.type for c in inst.activate(h.task())] == ["StartTimer"]
    assert asyncio.get_running_loop() is outer
    await asyncio.sleep(0)


def test_gap_in_sticky_events_is_stale() -> None:
    h = HistoryBuilder("Clock")
    inst = new_instance(Clock, h)
    h.complete_task(inst.activate(h.task()))
    h.timer_fired("1")
    h.schedule_task()
    with pytest.raises(StaleInstanceError):
        inst.activate(h.task(first_event_id=inst.last_event_id + 2))


def test_definition_validation() -> None:
    with pytest.raises(ValueError, match=r"exactly one @workflow\.run"):

        @workflow.defn
        class NoRun:
            pass

    with pytest.raises(ValueError, match="async def"):

        @workflow.defn
        class SyncRun:
            @workflow.run
            def run(self) -> None:
                pass

    d = workflow.get_definition(Collector)
    assert d.name == "Collector" and set(d.signals) == {"add", "finish"} and set(d.queries) == {"count"}
    assert d.signals["add"].arg_types == [str] and d.signals["finish"].is_async
