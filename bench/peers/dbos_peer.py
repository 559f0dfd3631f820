"""DBOS as a peer: the library runs in the bench process (that is what DBOS is) on the bench's
own Postgres, in a database of its own.

How the shapes map: a one-activity workflow is a DBOS workflow calling one step; ten activities
are ten sequential steps; the durable sleep is `DBOS.sleep_async`, and the workflow's clock is a
step returning `time.time()` (DBOS has no workflow clock; a step records its result, as the
clock of a replayed Temporal/Tidal workflow is recorded in history). DBOS writes no event when a
sleep ends, so its fire lateness is that clock after the sleep minus the clock before minus the
sleep (the before-step runs right before the sleep is armed, one step write apart). Workflows start with
`DBOS.start_workflow_async` under `SetWorkflowID` (DBOS's direct mode, no queue) and the result
is `handle.get_result()`; the driver keeps the same number in flight as for every system. DBOS
has no single start-and-wait call, so `DbosSystem` has no `execute`: its `seq-execute` is that
start then that result, the same calls as `seq`.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import AsyncIterator, Callable, Coroutine
from typing import Any

from dbos import DBOS, SetWorkflowID

__all__ = ["DbosSystem", "running_dbos"]


@DBOS.step()
async def greet(name: str) -> str:
    return f"Hello, {name}!"


@DBOS.step()
async def clock() -> float:
    return time.time()


@DBOS.workflow()
async def greeting_workflow(name: str) -> str:
    return await greet(name)


@DBOS.workflow()
async def ten_activities_workflow(name: str) -> str:
    out = ""
    for _ in range(10):
        out = await greet(name)
    return out


@DBOS.workflow()
async def sleep_workflow(seconds: float) -> float:
    before = await clock()
    await DBOS.sleep_async(seconds)
    return await clock() - before - seconds


WORKFLOWS: dict[str, Callable[[Any], Coroutine[Any, Any, Any]]] = {
    "one": greeting_workflow,
    "ten": ten_activities_workflow,
    "sleep": sleep_workflow,
}


class DbosSystem:
    """The bench's `System` on DBOS's direct mode."""

    async def start(self, shape: str, workflow_id: str, arg: Any) -> Any:
        with SetWorkflowID(workflow_id):
            return await DBOS.start_workflow_async(WORKFLOWS[shape], arg)

    async def result(self, handle: Any) -> Any:
        return await handle.get_result()

    async def timer_lateness(self, handle: Any, result: Any, seconds: float) -> float:
        """DBOS keeps no fire event: the workflow's steps around `sleep_async` are its record
        (the step before arms the due time within one step write; the step after is when the
        workflow resumed)."""
        return float(result)


@contextlib.asynccontextmanager
async def running_dbos(database_url: str) -> AsyncIterator[DbosSystem]:
    """``database_url``: a `postgresql://` URL of an empty database DBOS may own."""
    DBOS(config={"name": "tidal-bench", "system_database_url": database_url, "log_level": "WARNING"})
    try:
        DBOS.launch()
        yield DbosSystem()
    finally:
        DBOS.destroy(destroy_registry=False)
