"""A worker's slot accounting (`_task_slots.TaskSlots`): eager starts reserve only free workflow
task slots, delivered tasks hold one while they run, activities waiting for a slot count as
running (so workflow tasks stop asking for eager activities), and an exception gives every slot
back."""

from __future__ import annotations

import asyncio

import pytest
from tidal._task_slots import TaskSlots


def test_eager_starts_reserve_only_free_workflow_task_slots() -> None:
    slots = TaskSlots(max_workflow_tasks=2, max_activities=1)
    assert slots.reserve_workflow_task()
    with slots.workflow_task():  # a delivered task holds the other slot
        assert not slots.reserve_workflow_task()
    assert slots.reserve_workflow_task()
    assert not slots.reserve_workflow_task()
    slots.release_workflow_task()
    slots.release_workflow_task()
    assert slots.workflow_tasks_busy == 0


def test_a_failing_workflow_task_gives_its_slot_back() -> None:
    slots = TaskSlots(max_workflow_tasks=1, max_activities=1)
    with pytest.raises(RuntimeError), slots.workflow_task():
        raise RuntimeError("boom")
    assert slots.workflow_tasks_busy == 0 and slots.reserve_workflow_task()


async def test_activities_waiting_for_a_slot_leave_no_room_for_eager_ones() -> None:
    slots = TaskSlots(max_workflow_tasks=1, max_activities=2, eager_activities=True)
    release, two_inside = asyncio.Event(), asyncio.Event()
    inside = 0

    async def attempt() -> None:
        nonlocal inside
        async with slots.activity():
            inside += 1
            if inside == 2:
                two_inside.set()
            await release.wait()

    attempts = [asyncio.create_task(attempt()) for _ in range(3)]
    await asyncio.wait_for(two_inside.wait(), 5)
    assert inside == 2  # the third waits for a slot ...
    assert slots.activities_running == 3 and slots.free_eager_activities() <= 0  # ... and counts
    release.set()
    await asyncio.gather(*attempts)
    assert inside == 3 and slots.activities_running == 0 and slots.free_eager_activities() == 2


async def test_a_cancelled_attempt_gives_its_activity_slot_back() -> None:
    slots = TaskSlots(max_workflow_tasks=1, max_activities=1, eager_activities=True)

    entered = asyncio.Event()

    async def attempt() -> None:
        async with slots.activity():
            entered.set()
            await asyncio.Event().wait()

    task = asyncio.create_task(attempt())
    await asyncio.wait_for(entered.wait(), 5)
    assert slots.free_eager_activities() == 0
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert slots.activities_running == 0 and slots.free_eager_activities() == 1


def test_no_eager_activities_when_they_are_off() -> None:
    assert TaskSlots(max_workflow_tasks=1, max_activities=5).free_eager_activities() == 0
