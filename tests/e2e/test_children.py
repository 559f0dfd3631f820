"""Child workflows, continue-as-new and external handles, embedded and on the real stack."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable

import pytest
import sqlalchemy as sa
from tidal import workflow
from tidal._runtime.instance import WorkflowInstance
from tidal.client import Client
from tidal.testing import WorkflowEnvironment
from tidal.worker import Worker
from tidal_schema import HistoryEvent, shard_for
from tidal_schema.commands import CompleteWorkflowExecution
from tidal_schema.events import WorkflowExecutionCompleted
from tidal_schema.messages import WorkflowTask
from tidal_server.db import tables as t
from tidal_server.db.engine import create_engine

from tests.e2e import scenarios_children as sc
from tests.support.stack import Stack, wait_for

SCENARIOS: list[Callable[[Client, str], Awaitable[None]]] = [
    sc.child_result_and_failure,
    sc.child_signal_and_cancel,
    sc.parent_close_policies,
    sc.continue_as_new_chain,
    sc.external_handles,
]
IDS = [s.__name__ for s in SCENARIOS]


@pytest.fixture
async def embedded() -> AsyncIterator[Client]:
    env = await WorkflowEnvironment.start_local()
    try:
        async with Worker(env.client, task_queue=sc.TASK_QUEUE, workflows=sc.CHILD_WORKFLOWS):
            yield env.client
    finally:
        await env.shutdown()


@pytest.mark.parametrize("scenario", SCENARIOS, ids=IDS)
async def test_embedded(embedded: Client, scenario: Callable[[Client, str], Awaitable[None]]) -> None:
    await scenario(embedded, sc.TASK_QUEUE)


@pytest.fixture
async def two_history_stack(fresh_vhost_amqp_url: str, migrated_database_url: str) -> AsyncIterator[Stack]:
    """The real stack with two history processes, so parents and children often live in
    different processes (not just different shards)."""
    s = Stack(amqp_url=fresh_vhost_amqp_url, database_url=migrated_database_url)
    try:
        s.start("history", key="history-a", TIDAL_MEMBER_ID="history-a")
        s.start("history", key="history-b", TIDAL_MEMBER_ID="history-b")
        for name in ("matching", "timer", "frontend"):
            s.start(name)
        await s.wait_ready()
        engine = create_engine(s.database_url)
        try:

            async def split() -> bool:
                async with engine.connect() as conn:
                    owners = [r.owner for r in (await conn.execute(sa.select(t.shards))).all()]
                return len(owners) == s.shard_count and owners.count("history-a") == s.shard_count // 2

            await wait_for(split, timeout=60, what="both history processes to own half the shards")
        finally:
            await engine.dispose()
        yield s
    finally:
        s.stop_all()


async def test_stack(two_history_stack: Stack) -> None:
    """All scenarios at once on one stack (each uses its own workflow ids; a stack per scenario
    would cost more than the scenarios), then proof that parents and children were split across
    the two history processes."""
    client = await Client.connect(two_history_stack.address)
    try:
        async with Worker(client, task_queue=sc.TASK_QUEUE, workflows=sc.CHILD_WORKFLOWS):
            runs = [s(client, sc.TASK_QUEUE) for s in SCENARIOS]
            results = await asyncio.gather(*runs, return_exceptions=True)
    finally:
        await client.close()
    for name, r in zip(IDS, results, strict=True):
        if isinstance(r, BaseException):
            raise AssertionError(f"scenario {name} failed: {r!r}") from r
    assert await _cross_process_pairs(two_history_stack.database_url) > 0


async def _cross_process_pairs(database_url: str) -> int:
    """Parent/child pairs whose shards are owned by different history processes."""
    engine = create_engine(database_url)
    try:
        async with engine.connect() as conn:
            owner = {r.shard_id: r.owner for r in (await conn.execute(sa.select(t.shards))).all()}
            rows = (await conn.execute(sa.select(t.executions.c.shard_id, t.executions.c.state))).all()
    finally:
        await engine.dispose()
    count = 0
    for row in rows:
        parent = (row.state or {}).get("parent")
        if parent:
            parent_shard = shard_for(parent["namespace"], parent["workflow_id"], len(owner))
            count += owner[parent_shard] != owner[row.shard_id]
    return count


async def test_parent_histories_replay_deterministically(embedded: Client) -> None:
    """A worker that lost its cached instance replays the whole history: the child and external
    commands must match their Initiated events and the outcome events must resolve the same way,
    ending in the same closing command."""
    runs = [
        (sc.ParentWorkflow, ["result"]),
        (sc.ParentWorkflow, ["fail"]),
        (sc.ParentWorkflow, ["duplicate"]),
        (sc.ParentWorkflow, ["signal-cancel"]),
        (sc.ParentWorkflow, ["continue"]),
    ]
    for cls, args in runs:
        wf_id = f"replay-{uuid.uuid4()}"
        handle = await embedded.start_workflow(cls.run, args=args, id=wf_id, task_queue=sc.TASK_QUEUE)
        await handle.result()
        events = list((await handle.fetch_history()).events)
        last_task = max(i for i, e in enumerate(events) if e.event_type == "WorkflowTaskScheduled")
        evs = tuple(events[: last_task + 1])
        task = WorkflowTask(
            workflow_id=wf_id,
            run_id=handle.run_id or "",
            workflow_type=cls.__name__,
            task_queue=sc.TASK_QUEUE,
            scheduled_event_id=evs[-1].event_id,
            history_length=len(evs),
            events=evs,
            history_routing_key="shard.0",
        )
        instance = WorkflowInstance(
            definition=workflow.get_definition(cls),
            namespace="default",
            workflow_id=wf_id,
            run_id=task.run_id,
        )
        commands = instance.activate(task)
        assert [c.type for c in commands][-1:] == ["CompleteWorkflowExecution"], (args, commands)
        assert commands[-1] == _command_of(events[-1])


def _command_of(event: HistoryEvent) -> CompleteWorkflowExecution:
    assert isinstance(event.attributes, WorkflowExecutionCompleted)
    return CompleteWorkflowExecution(result=event.attributes.result)
