"""The Replayer checks saved histories against (possibly changed) workflow code, offline."""

from __future__ import annotations

from datetime import timedelta

import pytest
from tidal import workflow
from tidal._runtime import WorkflowInstance
from tidal._runtime.history_builder import HistoryBuilder
from tidal.client import WorkflowHistory
from tidal.exceptions import NondeterminismError
from tidal.replayer import ReplayError
from tidal.worker import Replayer

T = timedelta(seconds=10)


@workflow.defn(name="Order")
class OrderV1:
    @workflow.run
    async def run(self, item: str) -> str:
        a = await workflow.execute_activity("reserve", item, start_to_close_timeout=T)
        await workflow.sleep(60)
        b = await workflow.execute_activity("charge", item, start_to_close_timeout=T)
        return f"{a}+{b}"


@workflow.defn(name="Order")
class OrderV2Reordered:
    """The bug a replay check exists for: the timer moved before the first activity."""

    @workflow.run
    async def run(self, item: str) -> str:
        await workflow.sleep(60)
        a = await workflow.execute_activity("reserve", item, start_to_close_timeout=T)
        b = await workflow.execute_activity("charge", item, start_to_close_timeout=T)
        return f"{a}+{b}"


@workflow.defn(name="Order")
class OrderV3ExtraStep:
    """Adds an activity after the last recorded one: the completed run's history has no room
    for it, so replay must report it rather than silently accept."""

    @workflow.run
    async def run(self, item: str) -> str:
        a = await workflow.execute_activity("reserve", item, start_to_close_timeout=T)
        await workflow.sleep(60)
        b = await workflow.execute_activity("charge", item, start_to_close_timeout=T)
        await workflow.execute_activity("notify", item, start_to_close_timeout=T)
        return f"{a}+{b}"


@workflow.defn(name="Order")
class OrderV4Patched:
    """The supported way to change it: the new step only for runs that record the patch."""

    @workflow.run
    async def run(self, item: str) -> str:
        a = await workflow.execute_activity("reserve", item, start_to_close_timeout=T)
        await workflow.sleep(60)
        b = await workflow.execute_activity("charge", item, start_to_close_timeout=T)
        if workflow.patched("notify-step"):
            await workflow.execute_activity("notify", item, start_to_close_timeout=T)
        return f"{a}+{b}"


def completed_order_history() -> WorkflowHistory:
    """Drive OrderV1 to completion the way the server would, recording every event."""
    h = HistoryBuilder("Order", "book", workflow_id="order-1", run_id="run-1")
    inst = WorkflowInstance(
        definition=workflow.get_definition(OrderV1),
        namespace="default",
        workflow_id="order-1",
        run_id="run-1",
    )

    def step() -> str:
        cmds = inst.activate(h.task(first_event_id=inst.last_event_id + 1))
        h.complete_task(cmds)
        cmd = cmds[0]
        return str(getattr(cmd, "activity_id", None) or getattr(cmd, "timer_id", ""))

    reserve = step()
    h.activity_completed(reserve, "reserved")
    h.schedule_task()
    timer = step()
    h.advance(60)
    h.timer_fired(timer)
    h.schedule_task()
    charge = step()
    h.activity_completed(charge, "charged")
    h.schedule_task()
    step()
    assert h.events[-1].event_type == "WorkflowExecutionCompleted"
    return WorkflowHistory("order-1", tuple(h.events), run_id="run-1")


async def test_same_code_replays_cleanly_and_history_round_trips_through_json() -> None:
    history = WorkflowHistory.from_json("order-1", completed_order_history().to_json())
    assert history.run_id == "run-1"
    result = await Replayer(workflows=[OrderV1]).replay_workflow(history)
    assert result.replay_failure is None


async def test_reordered_code_is_reported_with_the_event_and_command_that_disagree() -> None:
    history = completed_order_history()
    with pytest.raises(NondeterminismError) as info:
        await Replayer(workflows=[OrderV2Reordered]).replay_workflow(history)
    message = str(info.value)
    assert "ActivityTaskScheduled" in message and "reserve" in message
    assert "StartTimer" in message or "timer" in message.lower()


async def test_an_extra_command_after_the_recorded_ones_is_caught() -> None:
    with pytest.raises(NondeterminismError, match="notify"):
        await Replayer(workflows=[OrderV3ExtraStep]).replay_workflow(completed_order_history())


async def test_patched_change_replays_old_histories_cleanly() -> None:
    await Replayer(workflows=[OrderV4Patched]).replay_workflow(completed_order_history())


async def test_failures_can_be_collected_instead_of_raised() -> None:
    histories = [completed_order_history(), completed_order_history()]
    results = await Replayer(workflows=[OrderV2Reordered]).replay_workflows(
        histories, raise_on_replay_failure=False
    )
    assert len(results.replay_failures) == 2
    assert all(isinstance(e, NondeterminismError) for e in results.replay_failures.values())


async def test_unknown_workflow_type_is_a_clear_error() -> None:
    @workflow.defn(name="Other")
    class Other:
        @workflow.run
        async def run(self) -> None:
            return None

    with pytest.raises(ReplayError, match=r"'Order'.*given: Other"):
        await Replayer(workflows=[Other]).replay_workflow(completed_order_history())


async def test_replay_iterator_and_config_as_temporalio() -> None:
    from tidal.worker import ReplayerConfig, WorkflowReplayResult

    good, bad = completed_order_history(), completed_order_history()

    async def histories():  # type: ignore[no-untyped-def]
        yield good
        yield bad

    replayer = Replayer(workflows=[OrderV1])
    async with replayer.workflow_replay_iterator(histories()) as results:
        seen = [r async for r in results]
    assert [r.replay_failure for r in seen] == [None, None]
    assert seen[0] == WorkflowReplayResult(good, None)  # positional, as temporalio's dataclass
    strict = Replayer(**{**replayer.config(), "workflows": [OrderV2Reordered]})
    async with strict.workflow_replay_iterator([good]) as results:
        [only] = [r async for r in results]
    assert isinstance(only.replay_failure, NondeterminismError)
    config: ReplayerConfig = strict.config()
    assert config["workflows"] == [OrderV2Reordered] and config["namespace"] == "default"


async def test_replayer_plugins_configure_and_wrap_the_replay() -> None:
    from collections.abc import AsyncIterator
    from contextlib import asynccontextmanager
    from typing import Any

    from tidal.worker import Plugin

    calls: list[str] = []

    class Swap(Plugin):
        def configure_worker(self, config: Any) -> Any:
            return config

        async def run_worker(self, worker: Any, next: Any) -> None:
            await next(worker)

        def configure_replayer(self, config: Any) -> Any:
            calls.append("configure")
            return {**config, "workflows": [OrderV2Reordered]}

        def run_replayer(self, replayer: Any, histories: Any, next: Any) -> Any:
            @asynccontextmanager
            async def wrapped() -> AsyncIterator[Any]:
                calls.append("before")
                async with next(replayer, histories) as results:
                    yield results
                calls.append("after")

            return wrapped()

    replayer = Replayer(workflows=[OrderV1], plugins=[Swap()])
    assert calls == ["configure"] and Swap().name().endswith("Swap")
    with pytest.raises(NondeterminismError):  # the plugin replaced the workflow class
        await replayer.replay_workflow(completed_order_history())
    async with replayer.workflow_replay_iterator([completed_order_history()]) as results:
        [result] = [r async for r in results]
    assert isinstance(result.replay_failure, NondeterminismError)
    assert calls == ["configure", "before", "before", "after"]


_REPLAY_THREADS: list[str] = []


@workflow.defn(name="Order")
class OrderV1NotesItsThread(OrderV1):
    @workflow.run
    async def run(self, item: str) -> str:
        import threading

        _REPLAY_THREADS.append(threading.current_thread().name)
        return await super().run(item)


async def test_workflow_task_executor_replays_on_its_threads_and_identity_is_kept() -> None:
    import concurrent.futures
    import threading

    history = completed_order_history()
    with concurrent.futures.ThreadPoolExecutor(thread_name_prefix="replay-pool") as pool:
        replayer = Replayer(workflows=[OrderV1NotesItsThread], workflow_task_executor=pool, identity="ci")
        await replayer.replay_workflow(history)
        with pytest.raises(NondeterminismError):
            await Replayer(workflows=[OrderV2Reordered], workflow_task_executor=pool).replay_workflow(history)
    assert _REPLAY_THREADS and all(t.startswith("replay-pool") for t in _REPLAY_THREADS), _REPLAY_THREADS
    assert replayer.config()["identity"] == "ci" and replayer.config()["workflow_task_executor"] is pool
    _REPLAY_THREADS.clear()
    await Replayer(workflows=[OrderV1NotesItsThread]).replay_workflow(history)  # inline, as before
    assert _REPLAY_THREADS == [threading.current_thread().name]
