"""Retention: a closed run, its history events and timers are deleted by history (a RETENTION
timer) once the namespace's retention has passed since the close; running runs are untouched.
On the time-skipping environment, so days pass in milliseconds."""

from __future__ import annotations

import uuid
from datetime import timedelta

import pytest
import sqlalchemy as sa
from tidal.exceptions import RPCError
from tidal.testing import WorkflowEnvironment
from tidal.worker import Worker
from tidal_server.db import executions, history_events, timers

from tests.support.workflows import ALL_ACTIVITIES, ALL_WORKFLOWS, CancellableWorkflow, GreetingWorkflow

TQ = "retention"


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
