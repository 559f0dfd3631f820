"""A workflow's commands stay in its namespace (issue 9, #10): a worker that completes a workflow
task with a child start, an external signal or an external cancel aimed at another namespace gets
the workflow task failed with the cause, and nothing reaches the other namespace. The worker here
is hand-made (the SDK never names another namespace): it takes the task from the task queue and
publishes the completion to history as any holder of a worker's broker credentials could.

Run in the embedded mode and on the real stack."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator

import pytest
from tidal.client import Client
from tidal.testing import WorkflowEnvironment
from tidal_matching.queues import task_queue_spec
from tidal_schema import WorkflowExecutionStatus, names
from tidal_schema import commands as cmd
from tidal_schema.messages import CompleteWorkflowTask, WorkflowTask
from tidal_server.bus import AmqpBus, Bus, Delivery, OutMessage

from tests.support.stack import Stack, wait_for


async def _next_task(tasks: asyncio.Queue[WorkflowTask]) -> WorkflowTask:
    async with asyncio.timeout(30):
        return await tasks.get()


async def cross_namespace_commands_fail_the_task(bus: Bus, client: Client) -> None:
    other = f"other-{uuid.uuid4().hex[:8]}"
    await client._call("POST", "/api/v1/namespaces", json={"name": other})
    task_queue = f"isolation-{uuid.uuid4().hex[:8]}"
    queue = names.workflow_task_queue("default", task_queue)
    await bus.declare_queue(task_queue_spec(queue))
    tasks: asyncio.Queue[WorkflowTask] = asyncio.Queue()

    async def on_task(d: Delivery) -> None:
        tasks.put_nowait(WorkflowTask.model_validate_json(d.body))
        await d.ack()

    consumer = await bus.consume(queue, on_task)
    try:
        wf_id = f"isolated-{uuid.uuid4()}"
        handle = await client.start_workflow("Intruder", id=wf_id, task_queue=task_queue)

        async def complete(task: WorkflowTask, *commands: cmd.Command) -> None:
            done = CompleteWorkflowTask(
                namespace=task.namespace,
                workflow_id=task.workflow_id,
                run_id=task.run_id,
                scheduled_event_id=task.scheduled_event_id,
                attempt=task.attempt,
                commands=commands,
            )
            await bus.publish(
                OutMessage(
                    exchange=names.HISTORY_EXCHANGE,
                    routing_key=task.history_routing_key,
                    body=done.model_dump_json().encode(),
                )
            )

        target = dict(namespace=other, workflow_id="victim")
        attacks: list[cmd.Command] = [
            cmd.StartChildWorkflowExecution(**target, workflow_type="Kid", task_queue=task_queue),
            cmd.SignalExternalWorkflowExecution(**target, signal_name="s"),
            cmd.RequestCancelExternalWorkflowExecution(**target),
        ]
        for attack in attacks:
            await complete(await _next_task(tasks), attack)
        # The task after the refusals: a command in its own namespace is still applied.
        await complete(await _next_task(tasks), cmd.CompleteWorkflowExecution())

        async def completed() -> bool:
            return (await handle.describe()).status is WorkflowExecutionStatus.COMPLETED

        await wait_for(completed, timeout=30, what="the run to complete")

        events = (await handle.fetch_history()).events
        failures = [e.attributes for e in events if e.event_type == "WorkflowTaskFailed"]
        assert len(failures) == len(attacks)
        for failure, attack in zip(failures, attacks, strict=True):
            assert failure.cause == "BadCommandAttributes"
            message = failure.failure.message
            assert message.startswith(type(attack).__name__), message
            assert f"namespace {other!r} is not this workflow's namespace 'default'" in message
        assert not [e for e in events if "Initiated" in e.event_type]
        # Nothing started (or was asked for) in the other namespace.
        listed = await client._call("GET", f"/api/v1/namespaces/{other}/workflows")
        assert listed["executions"] == []
    finally:
        await consumer.cancel()


async def test_embedded() -> None:
    env = await WorkflowEnvironment.start_local()
    try:
        await cross_namespace_commands_fail_the_task(env.server.bus, env.client)
    finally:
        await env.shutdown()


@pytest.fixture
async def running_client(running: Stack) -> AsyncIterator[Client]:
    c = await Client.connect(running.address)
    yield c
    await c.close()


async def test_stack(running: Stack, running_client: Client) -> None:
    bus = AmqpBus(running.amqp_url, connection_name="isolation-test")
    await bus.connect()
    try:
        await cross_namespace_commands_fail_the_task(bus, running_client)
    finally:
        await bus.close()
