"""`WorkflowEnvironment.start_local` / `start_time_skipping` options as temporalio spells them
(issue 11): the client options, `dev_server_database_filename` (a second environment on the same
file sees the first's runs), `port` (the HTTP API for clients elsewhere) and `search_attributes`
(registered with their types before anything runs). The environment is the embedded server, so
there is no real-stack variant."""

from __future__ import annotations

import asyncio
import uuid
from pathlib import Path

import pytest
from tidal import workflow
from tidal.client import Client, Interceptor, OutboundInterceptor
from tidal.common import QueryRejectCondition, SearchAttributeKey, TypedSearchAttributes
from tidal.testing import WorkflowEnvironment
from tidal.worker import Worker
from tidal_schema import shard_for
from tidal_server.embedded import DEFAULT_SHARD_COUNT

from tests.support.stack import wait_for

NOTE = SearchAttributeKey.for_text("Note")


@workflow.defn
class Parked:
    @workflow.run
    async def run(self) -> None:
        await workflow.wait_condition(lambda: False)


async def test_a_database_file_carries_runs_to_the_next_environment(tmp_path: Path) -> None:
    db = str(tmp_path / "dev.sqlite3")
    first = await WorkflowEnvironment.start_local(dev_server_database_filename=db)
    try:
        handle = await first.client.start_workflow(Parked.run, id="kept", task_queue="nobody")
    finally:
        await first.shutdown()
    second = await WorkflowEnvironment.start_local(dev_server_database_filename=db)
    try:
        described = await second.client.get_workflow_handle("kept").describe()
        assert described.run_id == handle.run_id
    finally:
        await second.shutdown()
    with pytest.raises(ValueError, match="not both"):
        await WorkflowEnvironment.start_local(dev_server_database_filename=db, database_path=db + "x")


@workflow.defn
class Napper:
    @workflow.run
    async def run(self, seconds: float) -> str:
        await workflow.sleep(seconds)
        return "rested"


async def test_a_new_database_has_the_default_shard_count_and_a_used_file_keeps_its_count(
    tmp_path: Path,
) -> None:
    """A new database gets DEFAULT_SHARD_COUNT shards, but a file keeps the count its runs were
    stored under: timers armed under eight shards must still fire when the file is opened again
    without a count (under the default four, shards 4-7's timers would never load)."""
    fresh = await WorkflowEnvironment.start_local()
    try:
        assert fresh.server.shard_count == DEFAULT_SHARD_COUNT == 4
    finally:
        await fresh.shutdown()
    db = str(tmp_path / "eight.sqlite3")
    first = await WorkflowEnvironment.start_local(dev_server_database_filename=db, shard_count=8)
    ids = [f"nap-{i}" for i in range(12)]
    # Some beyond the default's shards, or the test could not fail.
    assert any(shard_for(first.client.namespace, wid, 8) >= DEFAULT_SHARD_COUNT for wid in ids)
    try:
        async with Worker(first.client, task_queue="naps", workflows=[Napper]):
            for wid in ids:
                await first.client.start_workflow(Napper.run, 1.0, id=wid, task_queue="naps")

            async def armed() -> bool:
                for wid in ids:
                    events = (await first.client.get_workflow_handle(wid).fetch_history()).events
                    if not any(e.event_type == "TimerStarted" for e in events):
                        return False
                return True

            await wait_for(armed, timeout=30)
    finally:
        await first.shutdown()
    second = await WorkflowEnvironment.start_local(dev_server_database_filename=db)
    try:
        assert second.server.shard_count == 8
        async with Worker(second.client, task_queue="naps", workflows=[Napper]), asyncio.timeout(60):
            for wid in ids:
                assert await second.client.get_workflow_handle(wid).result() == "rested"
    finally:
        await second.shutdown()


async def test_port_serves_the_http_api_to_other_clients() -> None:
    env = await WorkflowEnvironment.start_local(port=0)
    try:
        assert env.target_host is not None and env.target_host.startswith("http://127.0.0.1:")
        remote = await Client.connect(env.target_host)
        try:
            handle = await remote.start_workflow(Parked.run, id=f"remote-{uuid.uuid4()}", task_queue="nobody")
        finally:
            await remote.close()
        assert (await env.client.get_workflow_handle(handle.id).describe()).run_id == handle.run_id
    finally:
        await env.shutdown()
    local = await WorkflowEnvironment.start_local()
    try:
        assert local.target_host is None  # by default nothing listens
    finally:
        await local.shutdown()


async def test_search_attributes_are_registered_with_their_types() -> None:
    env = await WorkflowEnvironment.start_local(search_attributes=[NOTE])
    try:
        # Queryable before any run has it, and a Text attribute (matched by words, not exactly).
        assert [e async for e in env.client.list_workflows('Note = "world"')] == []
        async with Worker(env.client, task_queue="sa", workflows=[Parked]):
            handle = await env.client.start_workflow(
                Parked.run,
                id=f"noted-{uuid.uuid4()}",
                task_queue="sa",
                search_attributes=TypedSearchAttributes([NOTE.value_set("hello big world")]),
            )

            async def listed() -> bool:
                return [e.id async for e in env.client.list_workflows('Note = "world"')] == [handle.id]

            await wait_for(listed, timeout=30, what="the run in the list by a word of its Text attribute")
    finally:
        await env.shutdown()


class _Nothing(Interceptor):
    def intercept_client(self, next: OutboundInterceptor) -> OutboundInterceptor:
        return next


async def test_client_options_reach_the_environments_client() -> None:
    interceptor = _Nothing()
    for start in (WorkflowEnvironment.start_local, WorkflowEnvironment.start_time_skipping):
        env = await start(
            identity="tester",
            interceptors=[interceptor],
            default_workflow_query_reject_condition=QueryRejectCondition.NOT_OPEN,
        )
        try:
            config = env.client.config()
            assert env.client.identity == "tester" and list(config["interceptors"]) == [interceptor]
            assert env.client.default_workflow_query_reject_condition is QueryRejectCondition.NOT_OPEN
        finally:
            await env.shutdown()
