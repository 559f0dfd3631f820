"""The workflow thread's hand-off (`tidal._workflow_thread`): an activation that answers within the
short synchronous wait returns without a turn of the loop; a slower one is awaited on the loop
under the deadlock timeout; code that blocks is abandoned as a potential deadlock; the
activation's own errors (a TimeoutError included) come back as themselves."""

from __future__ import annotations

import asyncio
import concurrent.futures
import threading
from collections.abc import Iterator

import pytest
from tidal._workflow_thread import WorkflowThreadTimeout, on_workflow_thread


@pytest.fixture
def pool() -> Iterator[concurrent.futures.ThreadPoolExecutor]:
    threads = concurrent.futures.ThreadPoolExecutor(2, thread_name_prefix="test-workflow")
    yield threads
    threads.shutdown(wait=False, cancel_futures=True)


def test_an_answer_within_the_wait_returns_without_suspending(
    pool: concurrent.futures.ThreadPoolExecutor,
) -> None:
    # Driven by hand, outside any loop: a coroutine that never suspends finishes on its first
    # send, so no turn of a loop was needed (the wait is long so a loaded box cannot miss it).
    coro = on_workflow_thread(
        pool, lambda x: (x, threading.current_thread().name), 1, deadlock_seconds=5, wait=30
    )
    with pytest.raises(StopIteration) as done:
        coro.send(None)
    value, thread = done.value.value
    assert value == 1 and thread.startswith("test-workflow")


def test_an_error_within_the_wait_is_raised_as_itself(pool: concurrent.futures.ThreadPoolExecutor) -> None:
    def fails(_: int) -> None:
        raise TimeoutError("the activation's own")

    coro = on_workflow_thread(pool, fails, 1, deadlock_seconds=5, wait=30)
    with pytest.raises(TimeoutError, match="the activation's own"):
        coro.send(None)


async def test_a_slower_answer_is_awaited_on_the_loop(pool: concurrent.futures.ThreadPoolExecutor) -> None:
    release = threading.Event()

    def slow(x: int) -> int:
        release.wait(30)
        return x + 1

    task = asyncio.create_task(on_workflow_thread(pool, slow, 1, deadlock_seconds=30, wait=0.001))
    await asyncio.sleep(0)  # the task's first step: the short wait runs out, it awaits the thread
    assert not task.done()
    release.set()
    assert await task == 2


async def test_a_slower_error_is_raised_as_itself_not_as_a_deadlock(
    pool: concurrent.futures.ThreadPoolExecutor,
) -> None:
    release = threading.Event()

    def slow_fail(_: int) -> None:
        release.wait(30)
        raise TimeoutError("the activation's own")

    task = asyncio.create_task(on_workflow_thread(pool, slow_fail, 1, deadlock_seconds=30, wait=0.001))
    await asyncio.sleep(0)
    release.set()
    with pytest.raises(TimeoutError, match="the activation's own"):
        await task


async def test_code_that_blocks_is_abandoned_after_the_deadlock_timeout(
    pool: concurrent.futures.ThreadPoolExecutor,
) -> None:
    release = threading.Event()
    try:
        with pytest.raises(WorkflowThreadTimeout):
            await on_workflow_thread(pool, lambda _: release.wait(30), 1, deadlock_seconds=0.05, wait=0.001)
    finally:
        release.set()  # the abandoned thread ends with the test
