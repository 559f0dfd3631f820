"""`Worker(patch_activation_callback=)` (temporalio's, experimental): the first `patched(id)` of
new code asks it; replays and deprecated patches never do, and a refusal records no marker."""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta

import pytest
from tidal import workflow
from tidal._runtime import WorkflowInstance, WorkflowTaskError
from tidal._runtime.history_builder import HistoryBuilder
from tidal.worker import PatchActivationInput

T = timedelta(seconds=10)


@workflow.defn(name="Changing")
class Patched:
    @workflow.run
    async def run(self) -> None:
        if workflow.patched("use-timer"):
            await workflow.sleep(1)
        else:
            await workflow.execute_activity("a", start_to_close_timeout=T)
        workflow.patched("use-timer")  # memoized: asks once


@workflow.defn(name="Changing")
class Deprecated:
    @workflow.run
    async def run(self) -> None:
        workflow.deprecate_patch("use-timer")
        await workflow.sleep(1)


def new_instance(
    cls: type, h: HistoryBuilder, callback: Callable[[PatchActivationInput], bool] | None
) -> WorkflowInstance:
    return WorkflowInstance(
        definition=workflow.get_definition(cls),
        namespace="default",
        workflow_id=h.workflow_id,
        run_id=h.run_id,
        patch_activation_callback=callback,
    )


def test_refused_patch_takes_the_old_branch_records_no_marker_and_replays_so() -> None:
    asked: list[PatchActivationInput] = []

    def refuse(given: PatchActivationInput) -> bool:
        asked.append(given)
        return False

    h = HistoryBuilder("Changing")
    cmds = new_instance(Patched, h, refuse).activate(h.task())
    assert [c.type for c in cmds] == ["ScheduleActivityTask"]
    assert len(asked) == 1 and asked[0].patch_id == "use-timer"
    assert asked[0].workflow_info.workflow_id == h.workflow_id
    # A replay (another worker, after eviction) neither asks nor changes branch.
    h.complete_task(cmds)
    h.activity_completed("1")
    h.schedule_task()
    out = new_instance(Patched, h, refuse).activate(h.task())
    assert [c.type for c in out] == ["CompleteWorkflowExecution"] and len(asked) == 1


def test_accepted_patch_records_its_marker() -> None:
    h = HistoryBuilder("Changing")
    cmds = new_instance(Patched, h, lambda given: True).activate(h.task())
    assert [c.type for c in cmds] == ["RecordMarker", "StartTimer"]


def test_deprecated_patches_and_replays_do_not_ask() -> None:
    def never(given: PatchActivationInput) -> bool:
        raise AssertionError("asked")

    h = HistoryBuilder("Changing")
    cmds = new_instance(Deprecated, h, never).activate(h.task())
    assert [c.type for c in cmds] == ["RecordMarker", "StartTimer"]
    # A run that recorded the patch replays on the new branch without asking.
    h2 = HistoryBuilder("Changing")
    first = new_instance(Patched, h2, lambda given: True).activate(h2.task())
    h2.complete_task(first)
    h2.timer_fired("1")
    h2.schedule_task()
    assert [c.type for c in new_instance(Patched, h2, never).activate(h2.task())] == [
        "CompleteWorkflowExecution"
    ]


def test_an_answer_that_is_not_a_bool_fails_the_task() -> None:
    h = HistoryBuilder("Changing")
    with pytest.raises(WorkflowTaskError, match="True or False"):
        new_instance(Patched, h, lambda given: 1).activate(h.task())  # type: ignore[arg-type,return-value]
