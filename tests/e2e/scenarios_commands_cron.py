"""`cron_schedule` on the public command exchange's start (and signal-with-start), as the HTTP
start has it: scenarios run over the in-memory bus and over RabbitMQ with pika
(test_commands_cron.py). `call` publishes one command and returns its reply."""

from __future__ import annotations

import uuid
from collections.abc import Awaitable, Callable
from typing import Any

from tidal import workflow
from tidal.client import Client
from tidal_schema import WorkflowExecutionStatus

from tests.support.stack import wait_for

Call = Callable[[str, dict[str, Any]], Awaitable[dict[str, Any]]]


@workflow.defn
class CommandCron:
    """One run of a cron chain: counts on from the last completed run's result."""

    @workflow.run
    async def run(self, label: str) -> list[Any]:
        last = workflow.get_last_completion_result(list) if workflow.has_last_completion_result() else None
        return [label, (last[1] if last else 0) + 1, workflow.info().cron_schedule]


WORKFLOWS = [CommandCron]


async def cron_start_runs_twice(client: Client, task_queue: str, call: Call) -> None:
    """A start command with `cron_schedule` starts a chain whose second run counts on from the
    first; a terminate ends it."""
    wf_id = f"cmd-cron-{uuid.uuid4().hex[:8]}"
    reply = await call(
        "start",
        {
            "workflow_id": wf_id,
            "workflow_type": "CommandCron",
            "task_queue": task_queue,
            "args": ["tick"],
            "cron_schedule": "@every 1s",
        },
    )
    assert reply["type"] == "CommandAccepted" and reply["started"] is True, reply
    first_run = reply["run_id"]
    closed: list[Any] = []

    async def two_closed() -> bool:
        closed[:] = [
            w
            async for w in client.list_workflows(f"WorkflowId = '{wf_id}'")
            if w.status is not WorkflowExecutionStatus.RUNNING
        ]
        return len(closed) >= 2

    await wait_for(two_closed, timeout=60, what="two runs of the cron chain")
    results = []
    for run in sorted(closed, key=lambda w: w.start_time)[:2]:
        history = await client.get_workflow_handle(wf_id, run_id=run.run_id).fetch_history()
        close = history.events[-1].attributes
        assert close.type == "WorkflowExecutionCompleted", close
        results.append((await client.data_converter.decode(list(close.result[:1]), [list]))[0])
        if run.run_id != first_run:
            assert history.events[0].attributes.initiator == "CronSchedule"
    assert results == [["tick", 1, "@every 1s"], ["tick", 2, "@every 1s"]], results
    await client.get_workflow_handle(wf_id).terminate("enough")


async def invalid_cron_is_dead_lettered(client: Client, task_queue: str, call: Call) -> list[str]:
    """An invalid cron, or one with a start delay, is refused and dead-lettered with the reason
    naming it; no run is started. Returns the workflow ids refused."""
    refused = []
    for extra in ({"cron_schedule": "61 * * * *"}, {"cron_schedule": "@every 5s", "start_delay": 3}):
        wf_id = f"cmd-cron-bad-{uuid.uuid4().hex[:8]}"
        body = {"workflow_id": wf_id, "workflow_type": "CommandCron", "task_queue": task_queue, **extra}
        reply = await call("start", body)
        assert reply["type"] == "CommandRejected" and reply["code"] == "invalid_argument", reply
        assert reply["dead_lettered"] is True and "cron_schedule" in reply["message"], reply
        assert (await client.count_workflows(f"WorkflowId = '{wf_id}'")).count == 0
        refused.append(wf_id)
    return refused
