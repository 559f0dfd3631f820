"""A result long poll cancelled in the loop turn its run's close arrives is cancelled.

Python 3.11's `asyncio.wait_for` returned the close notification that arrived in the turn the
waiting request was cancelled (a caller's timeout, the in-process client's task cancelled, a
server shutting down) and swallowed the cancel: the request ran on, read the run back and
answered a caller that had gone."""

from __future__ import annotations

import asyncio

from tidal_frontend.api.get_result import _notification
from tidal_schema import WorkflowExecutionStatus
from tidal_schema.messages import WorkflowClosed


async def test_a_long_poll_cancelled_as_the_close_arrives_is_cancelled() -> None:
    loop = asyncio.get_running_loop()
    closed: asyncio.Future[WorkflowClosed | None] = loop.create_future()
    waiting = asyncio.create_task(_notification(closed, 30))
    for _ in range(3):  # loop turns, not time: the task reaches its wait
        await asyncio.sleep(0)
    closed.set_result(
        WorkflowClosed(
            namespace="default", workflow_id="w", run_id="r", status=WorkflowExecutionStatus.COMPLETED
        )
    )
    waiting.cancel()
    end = loop.time() + 10
    while not waiting.done():
        assert loop.time() < end
        await asyncio.sleep(0.001)
    assert waiting.cancelled(), f"ran on after its cancel: {waiting.result()!r}"


async def test_a_long_poll_still_times_out_and_still_wakes() -> None:
    loop = asyncio.get_running_loop()
    never: asyncio.Future[WorkflowClosed | None] = loop.create_future()
    assert await _notification(never, 0.01) is None
    assert not never.cancelled()  # shielded: the watch's future stays the watch's
    soon: asyncio.Future[WorkflowClosed | None] = loop.create_future()
    loop.call_soon(soon.set_result, None)
    assert await _notification(soon, 30) is None
