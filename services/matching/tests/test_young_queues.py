"""A RabbitMQ 3.10 node killed within ~2 s of a queue's declaration can lose the queue with the
messages confirmed into it (docs/reliability.md, "Matching's first declare of a task queue").
Matching keeps the workflow tasks it published into a worker queue during its first seconds and
publishes them again after the reconnect, so the first task of a new task queue does not wait for
its 10 s workflow task timeout. Activity tasks are never kept: a second copy could run an attempt
twice. The rule in memory, then against a real node killed with SIGKILL."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime

import aiormq
import pytest
from tidal_matching.app import MatchingService
from tidal_matching.settings import MatchingSettings
from tidal_matching.young_queues import MAX_REPUBLISHES, Kept, YoungQueues
from tidal_schema import names
from tidal_schema.messages import ActivityTask, AddActivityTask, AddWorkflowTask, WorkflowTask
from tidal_server.bus import AmqpBus, BusError
from tidal_server.service import Runtime

from tests.support.polling import until
from tests.support.rabbitmq import RabbitMQ, start_private_rabbitmq

DEADLINE = 120.0


def test_only_tasks_of_queues_young_at_the_loss_are_published_again() -> None:
    young = YoungQueues(window=5.0, max_bytes=1_000)
    young.declared("old", now=0.0)
    young.declared("new", now=10.0)
    young.published("old", b"o1", 3, now=1.0)  # kept: "old" was young then
    young.published("new", b"n1", 3, now=11.0)
    young.published("new", b"n2", 1, now=16.0)  # past the window: durable by then
    young.published("unknown", b"u", 3, now=11.0)  # never declared here: a sticky queue
    young.tick(now=12.0)  # connected at 12: "old" was durable before any later loss
    young.lost(now=13.0)
    young.lost(now=30.0)  # the first loss is the one that counts
    assert young.restored() == [Kept("new", b"n1", 3)]
    assert young.restored() == [Kept("new", b"n1", 3)]  # until published again
    young.published_again(now=40.0)
    # Declared again by the reconnect, "new" is young again from 40, its task still kept.
    young.lost(now=41.0)
    assert young.restored() == [Kept("new", b"n1", 3)]
    young.published_again(now=50.0)
    young.tick(now=56.0)
    young.lost(now=57.0)
    assert young.restored() == []
    assert young.kept_bytes == 0


def test_a_burst_beyond_the_byte_bound_is_not_kept_and_no_window_keeps_nothing() -> None:
    young = YoungQueues(window=5.0, max_bytes=10)
    young.declared("q", now=0.0)
    for i in range(4):
        young.published("q", b"abcd", 3, now=float(i) / 10)
    assert len(young) == 2 and young.kept_bytes == 8 and young.dropped == 2
    off = YoungQueues(window=0.0, max_bytes=10)
    off.declared("q", now=0.0)
    off.published("q", b"abcd", 3, now=0.0)
    off.lost(now=0.1)
    assert off.restored() == []


def test_a_connection_flapping_every_second_publishes_each_task_again_a_bounded_number_of_times() -> None:
    """A reconnect storm: the connection lost and restored every second for a minute. Each
    reconnect made the queues young again, so each kept task went out again on every one (60
    copies, each a workflow task a worker replays); now at most MAX_REPUBLISHES, and the bodies
    are let go."""
    young = YoungQueues(window=5.0, max_bytes=1_000_000)
    young.declared("q", now=0.0)
    for i in range(100):
        young.published("q", b"task-%d" % i, 3, now=0.5)
    copies = 0
    for second in range(1, 61):
        young.lost(now=float(second))
        copies += len(young.restored())
        young.published_again(now=second + 0.1)
    assert copies == 100 * MAX_REPUBLISHES
    assert young.kept_bytes == 0 and len(young) == 0
    # A task published into the queue after that is not kept: the queue is no longer young here.
    young.published("q", b"later", 3, now=61.0)
    assert len(young) == 0


@pytest.fixture
def private_rabbitmq() -> Iterator[RabbitMQ]:
    try:
        server = start_private_rabbitmq()
    except Exception as exc:
        pytest.skip(f"needs the local RabbitMQ binaries to kill a broker: {exc}")
    try:
        yield server
    finally:
        server.stop()


def _workflow_task(task_queue: str) -> AddWorkflowTask:
    return AddWorkflowTask(
        task=WorkflowTask(
            namespace="default",
            workflow_id=f"wf-{uuid.uuid4().hex[:8]}",
            run_id="r",
            workflow_type="W",
            task_queue=task_queue,
            scheduled_event_id=2,
            history_length=2,
            events=(),
            history_routing_key=names.shard_routing_key(0),
        )
    )


def _activity_task(task_queue: str) -> AddActivityTask:
    return AddActivityTask(
        task=ActivityTask(
            namespace="default",
            workflow_id=f"wf-{uuid.uuid4().hex[:8]}",
            run_id="r",
            workflow_type="W",
            task_queue=task_queue,
            activity_id="1",
            activity_type="A",
            scheduled_event_id=5,
            attempt=1,
            scheduled_time=datetime.now(UTC),
            current_attempt_scheduled_time=datetime.now(UTC),
            history_routing_key=names.shard_routing_key(0),
        )
    )


async def _holds(bus: AmqpBus, queue: str, n: int) -> bool:
    """At least `n` tasks in `queue`."""
    try:
        return await bus.queue_depth(queue) >= n
    except BusError:
        return False  # reconnecting, or not declared again yet


async def test_a_workflow_task_in_a_queue_the_killed_broker_lost_is_published_again(
    private_rabbitmq: RabbitMQ,
) -> None:
    bus = AmqpBus(private_rabbitmq.url, connection_name="tidal-test-young-queues")
    await bus.connect()
    runtime = Runtime(bus=bus, engine=None, member_id="m-test", shard_count=1)  # type: ignore[arg-type]
    service = MatchingService(runtime, MatchingSettings(backlog_poll_seconds=3600, young_queue_seconds=60))
    await service.start()
    task_queue = f"tq-{uuid.uuid4().hex[:8]}"
    workflow_queue = names.workflow_task_queue("default", task_queue)
    activity_queue = names.activity_task_queue("default", task_queue)
    try:
        # Deterministic form of the race (docs/reliability.md): with Mnesia's recovery process
        # suspended, the declaration's commit decision never reaches the log before the kill.
        private_rabbitmq.rabbitmqctl("eval", "sys:suspend(mnesia_recover).")
        workflow = _workflow_task(task_queue)
        async with bus._raw_channel() as ch:
            for msg in (workflow, _activity_task(task_queue)):
                # Transient: history's outbox message is not redelivered after the restart (a
                # persistent one can be: the broker's record of matching's ack may not have
                # reached its disk), so only matching's own publishing again can bring it back.
                await ch.basic_publish(
                    msg.model_dump_json().encode(),
                    exchange=names.MATCHING_EXCHANGE,
                    routing_key=names.MATCHING_ROUTING_KEY,
                    properties=aiormq.spec.Basic.Properties(delivery_mode=1),
                )
        for queue in (workflow_queue, activity_queue):
            await until(
                lambda q=queue: _holds(bus, q, 1), what=f"a task in {queue}", deadline=DEADLINE, interval=0.02
            )
        await asyncio.to_thread(private_rabbitmq.kill, hard=True)
        await asyncio.to_thread(private_rabbitmq.start_again)
        lost = [line for line in private_rabbitmq.log_lines("Recovering") if "classic" in line][-1:]
        # The node lost both young queues (the recovery line counts the fixed ones only) and the
        # reconnect declared them again, empty; only the workflow task comes back (twice is
        # harmless: a second reconnect while the node boots publishes it again).
        await until(
            lambda: _holds(bus, workflow_queue, 1),
            what=f"the workflow task published again (the node logged {lost})",
            deadline=DEADLINE,
            interval=0.05,
        )
        async with bus._raw_channel() as ch:
            got = await ch.basic_get(workflow_queue, no_ack=True)
            assert got.body == workflow.task.model_dump_json().encode()
            # Not kept: a copy in a queue that survived could run the attempt twice. It comes back
            # by its start-to-close timeout (docs/reliability.md).
            assert (await ch.queue_declare(activity_queue, passive=True)).message_count == 0
    finally:
        await service.stop()
        await bus.close()
