"""Tasks published straight to a worker's queue (direct.py), on both buses: the worker's queue
takes the bare task; when the queue is gone (the worker left between history's decision and the
publish) the same task reaches matching in its envelope, and nothing raises."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime

import pytest
from tidal_history import direct
from tidal_history.mutation import Outgoing
from tidal_history.store import PendingOutbox
from tidal_schema import names
from tidal_schema.common import Priority
from tidal_schema.messages import (
    MATCHING_MESSAGE,
    TASK_MESSAGE,
    ActivityTask,
    AddActivityTask,
    AddWorkflowTask,
    WorkflowTask,
)
from tidal_server.bus import Bus, Delivery, QueueSpec

from tests.support.shard_zero import bus_with_matching_queue

T0 = datetime(2026, 1, 1, tzinfo=UTC)


@pytest.fixture(params=["memory", "amqp"])
async def bus(request: pytest.FixtureRequest) -> AsyncIterator[Bus]:
    async with bus_with_matching_queue(request, connection_name="tidal-test-direct") as b:
        yield b


async def _collect(bus: Bus, queue: str) -> asyncio.Queue[bytes]:
    got: asyncio.Queue[bytes] = asyncio.Queue()

    async def take(d: Delivery) -> None:
        await got.put(d.body)
        await d.ack()

    await bus.consume(queue, take)
    return got


def _activity(seq: int, queue: str) -> PendingOutbox:
    task = ActivityTask(
        workflow_id="w",
        run_id="r",
        workflow_type="T",
        activity_id=str(seq),
        activity_type="a",
        task_queue="q",
        scheduled_event_id=seq,
        scheduled_time=T0,
        current_attempt_scheduled_time=T0,
        history_routing_key="shard.0",
    )
    o = direct.to_worker(
        Outgoing(
            exchange=names.MATCHING_EXCHANGE,
            routing_key=names.MATCHING_ROUTING_KEY,
            message=AddActivityTask(task=task, worker_queue=queue),
        )
    )
    return PendingOutbox(
        seq=seq,
        exchange=o.exchange,
        routing_key=o.routing_key,
        body=o.message.model_dump_json().encode(),
        headers=o.headers,
    )


def _workflow(seq: int, queue: str) -> PendingOutbox:
    task = WorkflowTask(
        workflow_id="w",
        run_id="r",
        workflow_type="T",
        task_queue="q",
        scheduled_event_id=seq,
        history_length=0,
        events=(),
        history_routing_key="shard.0",
    )
    o = direct.to_worker(
        Outgoing(
            exchange=names.MATCHING_EXCHANGE,
            routing_key=names.MATCHING_ROUTING_KEY,
            message=AddWorkflowTask(task=task, sticky_queue=queue),
        )
    )
    return PendingOutbox(
        seq=seq,
        exchange=o.exchange,
        routing_key=o.routing_key,
        body=o.message.model_dump_json().encode(),
        headers=o.headers,
    )


async def test_a_live_workers_queue_gets_the_bare_tasks(bus: Bus) -> None:
    sticky = names.sticky_queue(f"w-{uuid.uuid4().hex[:8]}")
    await bus.declare_queue(QueueSpec(name=sticky, durable=False, auto_delete=True, dead_letter=False))
    got = await _collect(bus, sticky)
    await direct.publish(bus, [_activity(1, sticky), _workflow(2, sticky)], max_message_bytes=1 << 20)
    bodies = [await asyncio.wait_for(got.get(), 10) for _ in range(2)]
    tasks = sorted((TASK_MESSAGE.validate_json(b) for b in bodies), key=lambda t: t.type)
    assert [type(t) for t in tasks] == [ActivityTask, WorkflowTask]


async def test_a_gone_workers_tasks_reach_matching(bus: Bus) -> None:
    """The sticky queue was deleted between the decision and the publish."""
    sticky = names.sticky_queue(f"gone-{uuid.uuid4().hex[:8]}")
    await bus.declare_queue(QueueSpec(name=sticky, durable=False, auto_delete=True, dead_letter=False))
    await bus.delete_queue(sticky)
    got = await _collect(bus, names.MATCHING_QUEUE)
    await direct.publish(bus, [_activity(1, sticky), _workflow(2, sticky)], max_message_bytes=1 << 20)
    msgs = [MATCHING_MESSAGE.validate_json(await asyncio.wait_for(got.get(), 10)) for _ in range(2)]
    by_type = {m.type: m for m in msgs}
    act, wft = by_type["AddActivityTask"], by_type["AddWorkflowTask"]
    assert isinstance(act, AddActivityTask) and act.worker_queue is None and act.task.scheduled_event_id == 1
    assert isinstance(wft, AddWorkflowTask) and wft.sticky_queue is None and wft.task.scheduled_event_id == 2


def _first_workflow(seq: int, shared: direct.SharedQueues, priority_key: int | None = None) -> PendingOutbox:
    """A workflow task without a worker's queue (a run's first), routed with `shared`."""
    task = WorkflowTask(
        workflow_id="w",
        run_id="r",
        workflow_type="T",
        task_queue="q",
        scheduled_event_id=seq,
        history_length=0,
        events=(),
        history_routing_key="shard.0",
        priority=Priority(priority_key=priority_key) if priority_key is not None else None,
    )
    o = direct.to_worker(
        Outgoing(
            exchange=names.MATCHING_EXCHANGE,
            routing_key=names.MATCHING_ROUTING_KEY,
            message=AddWorkflowTask(task=task),
        ),
        shared=shared,
    )
    return PendingOutbox(
        seq=seq,
        exchange=o.exchange,
        routing_key=o.routing_key,
        body=o.message.model_dump_json().encode(),
        headers=o.headers,
    )


class _Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def test_one_workflow_task_per_task_queue_per_interval_goes_through_matching() -> None:
    clock = _Clock()
    shared = direct.SharedQueues(refresh_seconds=10, monotonic=clock, max_task_queues=2)
    assert shared.direct("ns", "a") is False  # the first: matching declares the queue, learns it
    assert shared.direct("ns", "a") is True
    assert shared.direct("other", "a") is False  # per namespace and task queue
    clock.now += 9.9
    assert shared.direct("ns", "a") is True
    clock.now += 0.2
    assert shared.direct("ns", "a") is False  # the interval's refresh
    assert shared.direct("ns", "a") is True
    assert shared.direct("ns", "b") is False  # a third key: the bound forgets the others
    assert shared.direct("ns", "a") is False
    off = direct.SharedQueues(refresh_seconds=0, monotonic=clock)
    assert [off.direct("ns", "a") for _ in range(3)] == [False, False, False]


def test_a_workflow_task_routed_to_the_shared_queue() -> None:
    shared = direct.SharedQueues(refresh_seconds=10, monotonic=_Clock())
    via_matching = _first_workflow(1, shared)
    assert (
        via_matching.exchange == names.MATCHING_EXCHANGE
        and direct.FALLBACK_HEADER not in via_matching.headers
    )
    row = _first_workflow(2, shared, priority_key=1)
    assert (row.exchange, row.routing_key) == ("", names.workflow_task_queue("default", "q"))
    assert row.headers[direct.FALLBACK_HEADER] == "AddWorkflowTask"
    # What matching would publish it with: priority key 1 goes first.
    assert row.headers[direct.PRIORITY_HEADER] == str(names.task_priority(1)) == "5"
    assert isinstance(TASK_MESSAGE.validate_json(row.body), WorkflowTask)
    assert _first_workflow(3, shared).headers[direct.PRIORITY_HEADER] == str(names.task_priority(None))
    # A sticky task still goes to the worker's own queue, whatever `shared` says.
    sticky = names.sticky_queue("w1")
    assert _workflow(4, sticky).routing_key == sticky


async def test_the_shared_queue_gets_the_tasks_by_priority(bus: Bus) -> None:
    """Published straight to a task queue's shared queue, tasks keep the priority matching would
    give them: with a backlog, priority key 1 leaves before the default."""
    shared = direct.SharedQueues(refresh_seconds=10, monotonic=_Clock())
    shared.direct("default", "q")  # the interval's task through matching is spent
    queue = names.workflow_task_queue("default", "q")
    # As matching and the workers declare it (tidal_matching/queues.py).
    await bus.declare_queue(QueueSpec(name=queue, durable=True, max_priority=names.TASK_QUEUE_MAX_PRIORITY))
    await direct.publish(
        bus,
        [_first_workflow(1, shared), _first_workflow(2, shared, priority_key=1)],
        max_message_bytes=1 << 20,
    )
    got = await _collect(bus, queue)
    tasks = [TASK_MESSAGE.validate_json(await asyncio.wait_for(got.get(), 10)) for _ in range(2)]
    assert [t.scheduled_event_id for t in tasks] == [2, 1]  # type: ignore[union-attr]


async def test_a_shared_queue_nobody_declared_sends_the_task_to_matching(bus: Bus) -> None:
    """No worker has polled the task queue (its queue does not exist): matching gets the task in
    its envelope, without the priority header, and declares the queue as before."""
    shared = direct.SharedQueues(refresh_seconds=10, monotonic=_Clock())
    shared.direct("default", "q")
    row = _first_workflow(7, shared)
    assert row.routing_key == names.workflow_task_queue("default", "q")
    await bus.delete_queue(row.routing_key)
    got = await _collect(bus, names.MATCHING_QUEUE)
    await direct.publish(bus, [row], max_message_bytes=1 << 20)
    msg = MATCHING_MESSAGE.validate_json(await asyncio.wait_for(got.get(), 10))
    assert isinstance(msg, AddWorkflowTask) and msg.sticky_queue is None and msg.task.scheduled_event_id == 7
