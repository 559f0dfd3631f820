"""A RabbitMQ restart under a running stack and worker: everyone reconnects and carries on.

Found by the chaos suite: after the broker restarted, the SDK worker's connection came back but
its consumers did not (aio-pika restores only queues declared on the robust channel; the worker
consumed through an untracked `get_queue(ensure=False)`), so no workflow or activity task was
ever taken again until the worker process was restarted. The embedded mode has no broker.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator

import pytest
from tidal.client import Client
from tidal.worker import Worker

from tests.support.rabbitmq import RabbitMQ, start_private_rabbitmq
from tests.support.servers import ServerUnavailableError
from tests.support.stack import SERVICES, Stack
from tests.support.workflows import ALL_ACTIVITIES, ALL_WORKFLOWS, TASK_QUEUE, GreetingWorkflow


@pytest.fixture
def private_rabbitmq() -> Iterator[RabbitMQ]:
    try:
        server = start_private_rabbitmq()
    except ServerUnavailableError as exc:
        pytest.skip(f"needs the local RabbitMQ binaries to restart a broker: {exc}")
    try:
        yield server
    finally:
        server.stop()


async def test_worker_and_services_carry_on_after_a_broker_restart(
    private_rabbitmq: RabbitMQ, fresh_database_url: str
) -> None:
    stack = Stack(amqp_url=private_rabbitmq.url, database_url=fresh_database_url)
    stack.migrate()
    try:
        for name in SERVICES:
            stack.start(name)
        await stack.wait_ready()
        client = await Client.connect(stack.address, amqp_url=private_rabbitmq.url)
        async with Worker(client, task_queue=TASK_QUEUE, workflows=ALL_WORKFLOWS, activities=ALL_ACTIVITIES):
            before = await client.execute_workflow(
                GreetingWorkflow.run, "before", id=f"broker-{uuid.uuid4()}", task_queue=TASK_QUEUE
            )
            assert before == "Hello, before!"
            private_rabbitmq.restart(hard=True)
            # The robust connections retry every few seconds; then the same worker must take the
            # workflow and activity tasks again (the SDK client retries the start meanwhile).
            handle = await client.start_workflow(
                GreetingWorkflow.run, "after", id=f"broker-{uuid.uuid4()}", task_queue=TASK_QUEUE
            )
            assert await handle.result() == "Hello, after!"
        await client.close()
    finally:
        stack.stop_all()
