"""temporalio's V2 time-skipping API on Tidal's skipping clock (issue 11):
`start_time_skipping_v2()` skips whenever the server is idle, `fast_forward` moves time on demand,
`get_time_skipping_info` reports it, `TimeSkippingConfig` bounds it, `TimeSkipper` wraps the
environment's client. Embedded by nature (the clock is the embedded server's)."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator
from datetime import timedelta

import pytest
from tidal import workflow
from tidal.client import Client, WorkflowExecutionStatus, WorkflowHandle
from tidal.testing import TimeSkipper, TimeSkippingConfig, WorkflowEnvironment
from tidal.worker import Worker

from tests.support.stack import wait_for

TQ = "skipping-v2"
DEADLINE = 30.0


@workflow.defn
class TwoNaps:
    def __init__(self) -> None:
        self.stage = "start"

    @workflow.run
    async def run(self) -> str:
        await workflow.sleep(timedelta(hours=1))
        self.stage = "after the first nap"
        await workflow.sleep(timedelta(days=1))
        self.stage = "done"
        return self.stage

    @workflow.query
    def where(self) -> str:
        return self.stage


async def _start(client: Client) -> WorkflowHandle[TwoNaps, str]:
    return await client.start_workflow(TwoNaps.run, id=f"naps-{uuid.uuid4()}", task_queue=TQ)


async def _status(handle: WorkflowHandle[TwoNaps, str]) -> WorkflowExecutionStatus:
    return (await handle.describe()).status


@pytest.fixture
async def env_v2(request: pytest.FixtureRequest) -> AsyncIterator[WorkflowEnvironment]:
    env = await WorkflowEnvironment.start_time_skipping_v2(ts_config=request.param)
    try:
        async with Worker(env.client, task_queue=TQ, workflows=[TwoNaps]):
            yield env
    finally:
        await env.shutdown()


@pytest.mark.parametrize("env_v2", [TimeSkippingConfig()], indirect=True)
async def test_v2_skips_while_idle_with_nobody_waiting(env_v2: WorkflowEnvironment) -> None:
    assert env_v2.supports_time_skipping_v2 and not env_v2.supports_time_skipping_v1
    handle = await _start(env_v2.client)

    async def completed() -> bool:
        return await _status(handle) == WorkflowExecutionStatus.COMPLETED

    await wait_for(completed, timeout=DEADLINE, what="a day of naps without anyone waiting")
    info = await env_v2.get_time_skipping_info(handle)
    assert info is not None and info.skipped > timedelta(hours=24) and info.current_session_skip_count >= 2


@pytest.mark.parametrize("env_v2", [TimeSkippingConfig(enabled=False)], indirect=True)
async def test_fast_forward_moves_time_on_demand(env_v2: WorkflowEnvironment) -> None:
    handle = await _start(env_v2.client)
    assert await env_v2.get_time_skipping_info(handle) is None  # never enabled, nothing skipped
    assert await handle.query(TwoNaps.where) == "start"
    assert await env_v2.fast_forward(handle, timedelta(hours=1, seconds=1)) is True
    assert await handle.query(TwoNaps.where) == "after the first nap"
    info = await env_v2.get_time_skipping_info(handle)
    assert info is not None and timedelta(hours=1) <= info.skipped < timedelta(hours=2)
    assert not info.effective_config.enabled
    assert await env_v2.fast_forward(handle) is False  # until it closes
    assert await _status(handle) == WorkflowExecutionStatus.COMPLETED
    assert await env_v2.fast_forward(handle, 60) is False  # closed already


@pytest.mark.parametrize("env_v2", [TimeSkippingConfig(max_session_skip_count=1)], indirect=True)
async def test_the_skip_count_bounds_a_session(env_v2: WorkflowEnvironment) -> None:
    handle = await _start(env_v2.client)

    async def first_nap_over() -> bool:
        return await handle.query(TwoNaps.where) == "after the first nap"

    await wait_for(first_nap_over, timeout=DEADLINE, what="the one permitted jump")
    info = await env_v2.get_time_skipping_info(handle)
    assert info is not None and info.current_session_skip_count == 1 and not info.effective_config.enabled
    assert await _status(handle) == WorkflowExecutionStatus.RUNNING
    skipper = TimeSkipper(env_v2.client, config=TimeSkippingConfig())  # a new, unbounded session
    await wait_for(lambda: _completed(handle), timeout=DEADLINE, what="the rest once skipping is on again")
    assert skipper.config == TimeSkippingConfig()


async def _completed(handle: WorkflowHandle[TwoNaps, str]) -> bool:
    return await _status(handle) == WorkflowExecutionStatus.COMPLETED


async def test_v2_names_on_other_environments_say_what_they_need() -> None:
    env = await WorkflowEnvironment.start_local()
    try:
        handle = env.client.get_workflow_handle("any")
        with pytest.raises(RuntimeError, match="start_time_skipping_v2"):
            await env.fast_forward(handle, 1)
        with pytest.raises(RuntimeError, match="start_time_skipping_v2"):
            await env.get_time_skipping_info(handle)
        with pytest.raises(RuntimeError, match="start_time_skipping_v2"):
            TimeSkipper(env.client)
    finally:
        await env.shutdown()
    with pytest.raises(ValueError, match="fast_forward_config"):
        from tidal.testing import FastForwardConfig

        TimeSkippingConfig(enabled=False, fast_forward_config=FastForwardConfig("x", timedelta(1)))


@pytest.mark.parametrize("env_v2", [TimeSkippingConfig()], indirect=True)
async def test_fast_forward_to_the_end_skips_inside_a_disabled_block(env_v2: WorkflowEnvironment) -> None:
    with env_v2.with_time_skipping_disabled():
        handle = await _start(env_v2.client)
        # Asked for explicitly, it skips (it used to wait forever here).
        assert await asyncio.wait_for(env_v2.fast_forward(handle), DEADLINE) is False
    assert await _status(handle) == WorkflowExecutionStatus.COMPLETED
