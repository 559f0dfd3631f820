"""A database error in a history shard's idle path does not stop the shard (issue 9, defect 3),
on the real stack: history's connections get a lock_timeout, the test locks the outbox table
right after a workflow completes, so the shard's idle pass (deleting the rows it published) fails
with SQLSTATE 55P03; once the lock is gone, new workflows on that shard complete."""

from __future__ import annotations

import uuid

import asyncpg
from tidal.client import Client
from tidal.worker import Worker
from tidal_schema import shard_for

from tests.e2e.scenarios_poison import ids_on_shard
from tests.support._common import asyncpg_dsn
from tests.support.stack import SERVICES, Stack, wait_for
from tests.support.workflows import ALL_ACTIVITIES, ALL_WORKFLOWS, TASK_QUEUE, GreetingWorkflow

_BLOCKED_DELETE = """
SELECT count(*) FROM pg_stat_activity
WHERE datname = current_database() AND wait_event_type = 'Lock' AND query ILIKE 'DELETE FROM outbox%'
"""


async def test_an_idle_path_database_error_does_not_stop_the_shard(stack: Stack) -> None:
    dsn = asyncpg_dsn(stack.database_url)
    admin = await asyncpg.connect(dsn)
    try:
        db = await admin.fetchval("SELECT current_database()")
        await admin.execute(f"ALTER DATABASE \"{db}\" SET lock_timeout = '1s'")  # for new sessions
        for name in SERVICES:
            stack.start(name)
        await stack.wait_ready()
        prefix = f"idle-{uuid.uuid4().hex[:6]}-"
        shard = shard_for("default", f"{prefix}0", stack.shard_count)
        first, second = ids_on_shard(prefix, shard, stack.shard_count, 2)
        client = await Client.connect(stack.address)
        try:
            async with Worker(
                client, task_queue=TASK_QUEUE, workflows=ALL_WORKFLOWS, activities=ALL_ACTIVITIES
            ):
                assert (
                    await client.execute_workflow(GreetingWorkflow.run, "a", id=first, task_queue=TASK_QUEUE)
                    == "Hello, a!"
                )
                # The shard has just published its close: its idle pass deletes those outbox rows
                # in a second. Hold the table until that delete has waited out its lock_timeout.
                locker = await asyncpg.connect(dsn)
                try:
                    tx = locker.transaction()
                    await tx.start()
                    await locker.execute("SET lock_timeout = 0")
                    await locker.execute("LOCK TABLE outbox IN ACCESS EXCLUSIVE MODE")

                    async def blocked() -> bool:
                        return bool(await admin.fetchval(_BLOCKED_DELETE))

                    async def timed_out() -> bool:
                        return not await blocked()

                    await wait_for(blocked, timeout=20, what="the shard's idle delete to wait for the lock")
                    await wait_for(timed_out, timeout=20, what="the idle delete to fail (lock_timeout)")
                    await tx.rollback()
                finally:
                    await locker.close()
                # Before the fix the shard's loop was dead by now: this start was never answered.
                assert (
                    await client.execute_workflow(GreetingWorkflow.run, "b", id=second, task_queue=TASK_QUEUE)
                    == "Hello, b!"
                )
        finally:
            await client.close()
    finally:
        await admin.close()
