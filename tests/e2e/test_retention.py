"""Retention: a closed run, its history events and timers are deleted by history (a RETENTION
timer) once the namespace's retention has passed since the close; running runs are untouched.
On the time-skipping environment, so days pass in milliseconds."""

from __future__ import annotations

import uuid
from datetime import timedelta

import pytest
import sqlalchemy as sa
from tidal import workflow
from tidal.exceptions import RPCError
from tidal.testing import WorkflowEnvironment
from tidal.worker import Worker
from tidal_server.db import executions, history_events, timers

from tests.support.stack import wait_for
from tests.support.workflows import ALL_ACTIVITIES, ALL_WORKFLOWS, CancellableWorkflow, GreetingWorkflow

TQ = "retention"


@workflow.defn
class ContinuesOnceThenWaits:
    """Run 1 continues as new at once; run 2 waits for the `go` signal."""

    def __init__(self) -> None:
        self.value: str | None = None

    @workflow.signal
    def go(self, value: str) -> None:
        self.value = value

    @workflow.run
    async def run(self, generation: int) -> str:
        if generation == 0:
            workflow.continue_as_new(1)
        await workflow.wait_condition(lambda: self.value is not None)
        return f"{self.value} in generation {generation}"


async def _rows(env: WorkflowEnvironment, run_id: str) -> tuple[int, int, int]:
    engine = env.server.runtime.engine
    async with engine.connect() as conn:
        counts = []
        for table, cond in (
            (executions, executions.c.run_id == run_id),
            (history_events, history_events.c.run_id == run_id),
            (timers, timers.c.key.startswith(f"{run_id}/")),
        ):
            counts.append(
                (await conn.execute(sa.select(sa.func.count()).select_from(table).where(cond))).scalar()
            )
    return counts[0], counts[1], counts[2]


async def test_closed_run_is_deleted_after_the_namespace_retention() -> None:
    env = await WorkflowEnvironment.start_time_skipping()
    try:
        client = env.client
        # The namespaces API: retention of the default namespace down to 2 days.
        changed = await client._call("PATCH", "/api/v1/namespaces/default", json={"retention_days": 2})
        assert changed["retention_days"] == 2
        async with Worker(client, task_queue=TQ, workflows=ALL_WORKFLOWS, activities=ALL_ACTIVITIES):
            wf_id = f"ret-{uuid.uuid4().hex[:8]}"
            handle = await client.start_workflow(GreetingWorkflow.run, "kept", id=wf_id, task_queue=TQ)
            assert await handle.result() == "Hello, kept!"
            run_id = handle.run_id
            assert run_id is not None
            # A long-running one (sleeps a day... then cleans up only if cancelled): it closes
            # after a day, so its own retention ends a day after ours.
            other = await client.start_workflow(
                CancellableWorkflow.run, "x", id=f"ret-other-{uuid.uuid4().hex[:8]}", task_queue=TQ
            )
            executions_rows, events, timer_rows = await _rows(env, run_id)
            assert executions_rows == 1 and events > 0 and timer_rows == 1  # the retention timer

            # After the first check (1 day), the run is still there: it re-armed for day 2.
            await env.sleep(timedelta(days=1, hours=1))
            assert (await handle.describe()).run_id == run_id
            assert await _rows(env, run_id) == (1, events, 1)

            await env.sleep(timedelta(days=1))
            with pytest.raises(RPCError) as info:
                await handle.describe()
            assert info.value.status == "not_found"
            with pytest.raises(RPCError):
                await handle.fetch_history()
            assert await _rows(env, run_id) == (0, 0, 0)
            # The other run closed a day after ours: still within its retention.
            assert (await other.describe()).run_id == other.run_id
            # The workflow id is free again, with no trace of the old run.
            again = await client.start_workflow(GreetingWorkflow.run, "again", id=wf_id, task_queue=TQ)
            assert again.run_id != run_id
            assert await again.result() == "Hello, again!"
    finally:
        await env.shutdown()


async def test_a_signal_by_id_reaches_the_successor_after_the_old_runs_retention_check() -> None:
    """Issue 9, defect 2: a day after run A continued as new to B, A's retention check re-armed
    and re-cached A as the id's current run, so a signal by workflow id answered "no running
    workflow" while B was running."""
    env = await WorkflowEnvironment.start_time_skipping()
    try:
        client = env.client
        async with Worker(client, task_queue=TQ, workflows=[ContinuesOnceThenWaits]):
            wf_id = f"ret-can-{uuid.uuid4().hex[:8]}"
            first = await client.start_workflow(ContinuesOnceThenWaits.run, 0, id=wf_id, task_queue=TQ)
            by_id = client.get_workflow_handle(wf_id)

            async def continued() -> bool:
                return (await by_id.describe()).run_id != first.run_id

            await wait_for(continued, timeout=30, what="the continue-as-new successor")
            second = (await by_id.describe()).run_id
            assert second != first.run_id
            # A's first retention check is due a day after its close; it re-arms (30 days).
            await env.sleep(timedelta(days=1, hours=1))
            engine = env.server.runtime.engine
            async with engine.connect() as conn:
                due = (
                    await conn.execute(
                        sa.select(timers.c.fire_at).where(timers.c.key == f"{first.run_id}/retention")
                    )
                ).scalar()
            assert due is not None and due > await env.get_current_time() + timedelta(days=20)
            await by_id.signal(ContinuesOnceThenWaits.go, "signalled")
            assert await by_id.result() == "signalled in generation 1"
            assert (await by_id.describe()).run_id == second
    finally:
        await env.shutdown()
