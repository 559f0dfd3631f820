"""Fixtures of the hostile-input suite on the real stack (each service its own process)."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator

import pytest
from tidal.client import Client
from tidal.worker import Worker
from tidal_server.bus import AmqpBus

from tests.hostile.workflows import (
    TASK_QUEUE,
    GrowingMemoWorkflow,
    HostileWorkflow,
    HugeFailureWorkflow,
    OversleepWorkflow,
    WaitForCancelWorkflow,
    fail_with_huge_details,
)
from tests.support.stack import SERVICES, Stack


@pytest.fixture
def stack(fresh_vhost_amqp_url: str, migrated_database_url: str) -> Iterator[Stack]:
    s = Stack(amqp_url=fresh_vhost_amqp_url, database_url=migrated_database_url)
    try:
        yield s
    finally:
        s.stop_all()


@pytest.fixture
async def running(stack: Stack) -> AsyncIterator[Stack]:
    for name in SERVICES:
        stack.start(name)
    await stack.wait_ready(timeout=180)
    yield stack


@pytest.fixture
async def client(running: Stack) -> AsyncIterator[Client]:
    c = await Client.connect(running.address)
    async with Worker(
        c,
        task_queue=TASK_QUEUE,
        workflows=[
            HostileWorkflow,
            OversleepWorkflow,
            HugeFailureWorkflow,
            GrowingMemoWorkflow,
            WaitForCancelWorkflow,
        ],
        activities=[fail_with_huge_details],
    ):
        yield c
    await c.close()


@pytest.fixture
async def bus(running: Stack) -> AsyncIterator[AmqpBus]:
    b = AmqpBus(running.amqp_url, connection_name="tidal-hostile-test")
    await b.connect()
    yield b
    await b.close()
