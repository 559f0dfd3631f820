"""workflow.wait / workflow.as_completed / asyncio.gather: deterministic command order and results."""

from __future__ import annotations

import asyncio
from datetime import timedelta

from tidal import workflow
from tidal._runtime import WorkflowInstance
from tidal._runtime.history_builder import HistoryBuilder
from tidal_schema import commands

T = timedelta(seconds=10)


def new_instance(cls: type, h: HistoryBuilder) -> WorkflowInstance:
    return WorkflowInstance(
        definition=workflow.get_definition(cls),
        namespace="default",
        workflow_id=h.workflow_id,
        run_id=h.run_id,
    )


def step(inst: WorkflowInstance, h: HistoryBuilder) -> tuple[commands.Command, ...]:
    cmds = inst.activate(h.task(first_event_id=inst.last_event_id + 1))
    h.complete_task(cmds)
    return cmds


def act(name: str) -> object:
    return workflow.execute_activity(name, name, start_to_close_timeout=T)


@workflow.defn
class AsCompleted:
    @workflow.run
    async def run(self) -> list[str]:
        order = [await r for r in workflow.as_completed([act(n) for n in ("a", "b", "c", "d", "e")])]
        return order


@workflow.defn
class WaitFirst:
    @workflow.run
    async def run(self) -> list[str]:
        done, pending = await workflow.wait(
            [act("x"), act("y"), asyncio.sleep(30)], return_when=workflow.FIRST_COMPLETED
        )
        for p in pending:
            p.cancel()
        return [str(d.result()) for d in done] + [str(len(pending))]


@workflow.defn
class Gather:
    @workflow.run
    async def run(self) -> list[str]:
        r = await asyncio.gather(act("p"), act("q"), workflow.sleep(5))
        return [r[0], r[1]]


def activity_types(cmds: tuple[commands.Command, ...]) -> list[str]:
    return [c.activity_type for c in cmds if isinstance(c, commands.ScheduleActivityTask)]


def test_as_completed_starts_in_given_order_and_yields_in_completion_order() -> None:
    h = HistoryBuilder("AsCompleted")
    inst = new_instance(AsCompleted, h)
    cmds = step(inst, h)
    assert activity_types(cmds) == ["a", "b", "c", "d", "e"]
    ids = {c.activity_type: c.activity_id for c in cmds if isinstance(c, commands.ScheduleActivityTask)}
    for name in ("d", "b"):
        h.activity_completed(ids[name], name)
    h.schedule_task()
    step(inst, h)
    for name in ("e", "a", "c"):
        h.activity_completed(ids[name], name)
    h.schedule_task()
    final = step(inst, h)
    done = [c for c in final if isinstance(c, commands.CompleteWorkflowExecution)]
    assert h.converter.from_payloads(done[0].result, [list[str]]) == [["d", "b", "e", "a", "c"]]
    # A fresh instance replaying the whole history agrees (no NondeterminismError).
    replay = new_instance(AsCompleted, h)
    h.schedule_task()
    replay.activate(h.task())


def test_wait_first_completed_returns_lists_in_given_order() -> None:
    h = HistoryBuilder("WaitFirst")
    inst = new_instance(WaitFirst, h)
    cmds = step(inst, h)
    assert activity_types(cmds) == ["x", "y"]
    assert any(isinstance(c, commands.StartTimer) for c in cmds)
    y = next(
        c.activity_id for c in cmds if isinstance(c, commands.ScheduleActivityTask) and c.activity_type == "y"
    )
    h.activity_completed(y, "y")
    h.schedule_task()
    final = step(inst, h)
    # The pending activity and timer are cancelled, then the workflow completes.
    assert any(isinstance(c, commands.CancelTimer) for c in final)
    done = next(c for c in final if isinstance(c, commands.CompleteWorkflowExecution))
    assert h.converter.from_payloads(done.result, [list[str]]) == [["y", "2"]]


def test_gather_over_activities_and_a_timer() -> None:
    h = HistoryBuilder("Gather")
    inst = new_instance(Gather, h)
    cmds = step(inst, h)
    assert activity_types(cmds) == ["p", "q"]
    timer = next(c for c in cmds if isinstance(c, commands.StartTimer))
    ids = [c.activity_id for c in cmds if isinstance(c, commands.ScheduleActivityTask)]
    h.activity_completed(ids[1], "Q")
    h.activity_completed(ids[0], "P")
    h.schedule_task()
    assert not any(isinstance(c, commands.CompleteWorkflowExecution) for c in step(inst, h))
    h.advance(5)
    h.timer_fired(timer.timer_id)
    h.schedule_task()
    final = step(inst, h)
    done = next(c for c in final if isinstance(c, commands.CompleteWorkflowExecution))
    assert h.converter.from_payloads(done.result, [list[str]]) == [["P", "Q"]]
