"""One suite, both buses (the `env` fixture in conftest.py): publishing, routing, topology and
limits. Consuming and settling: test_bus_consuming.py; request/reply: test_bus_request_reply.py.
"""

from __future__ import annotations

import asyncio
from dataclasses import replace
from typing import Any

import pytest
from tidal_server.bus import (
    AmqpBus,
    Bus,
    BusClosedError,
    Delivery,
    InMemoryBus,
    MessageTooLargeError,
    NotFoundError,
    PreconditionError,
    QueueSpec,
    QueueStats,
    UnroutableError,
)
from tidal_server.bus._memstate import topic_matches

from .conftest import DEADLINE, Collector, Env, _bodies, msg


async def test_roundtrip_fields(env: Env) -> None:
    ex = await env.exchange()
    q = await env.queue((ex, "k"))
    got = Collector()
    await env.bus.consume(q, got)
    await env.bus.publish(
        msg(ex, "k", b'{"a":1}', headers={"h": "v", "n": 3}, message_id="m1", correlation_id="c1")
    )
    (d,) = await got.wait_for(1)
    assert (d.body, d.routing_key, d.exchange, d.queue) == (b'{"a":1}', "k", ex, q)
    assert d.headers["h"] == "v" and d.headers["n"] == 3
    assert (d.message_id, d.correlation_id, d.redelivered, d.settled) == ("m1", "c1", False, True)


async def test_default_exchange_routes_by_queue_name(env: Env) -> None:
    q = await env.queue()
    got = Collector()
    await env.bus.consume(q, got)
    await env.bus.publish(msg("", q, b"x"))
    assert (await got.wait_for(1))[0].body == b"x"


async def test_topic_and_fanout_routing(env: Env) -> None:
    topic, fan = await env.exchange("topic"), await env.exchange("fanout")
    star, hash_ = await env.queue((topic, "a.*")), await env.queue((topic, "a.#"))
    fan_q = await env.queue((fan, "z"))
    got = {q: Collector() for q in (star, hash_, fan_q)}
    for q, c in got.items():
        await env.bus.consume(q, c)
    await env.bus.publish_many([msg(topic, "a.b", b"1"), msg(topic, "a.b.c", b"2"), msg(fan, "any", b"3")])
    assert sorted(d.body for d in await got[hash_].wait_for(2)) == [b"1", b"2"]
    assert [d.body for d in await got[star].wait_for(1)] == [b"1"]
    assert [d.body for d in await got[fan_q].wait_for(1)] == [b"3"]
    with pytest.raises(UnroutableError):
        await env.bus.publish(msg(topic, "b.a"))
    assert len(got[star].items) == 1


async def test_unroutable_and_missing_exchange_do_not_break_publishing(env: Env) -> None:
    ex = await env.exchange()
    q = await env.queue((ex, "yes"))
    with pytest.raises(UnroutableError):
        await env.bus.publish(msg(ex, "no"))
    with pytest.raises(UnroutableError):
        await env.bus.publish(msg("", env.name("no-such-queue")))
    with pytest.raises(NotFoundError):
        await env.bus.publish(msg(env.name("no-such-exchange"), "k"))
    with pytest.raises(UnroutableError):  # a batch raises, but every routable message went out
        await env.bus.publish_many([msg(ex, "yes", b"1"), msg(ex, "no"), msg(ex, "yes", b"2")])
    await env.bus.publish(msg(ex, "yes", b"3"))
    got = Collector()
    await env.bus.consume(q, got)
    assert sorted(await asyncio.wait_for(_bodies(got, 3), DEADLINE)) == [b"1", b"2", b"3"]


async def test_non_mandatory_publish_to_no_queue_is_dropped_quietly(env: Env) -> None:
    ex = await env.exchange()
    q = await env.queue((ex, "yes"))
    await env.bus.publish_many(
        [
            replace(msg(ex, "no"), mandatory=False),
            replace(msg("", env.name("no-such-queue")), mandatory=False),
            replace(msg(ex, "yes", b"1"), mandatory=False),
        ]
    )
    got = Collector()
    await env.bus.consume(q, got)
    assert await asyncio.wait_for(_bodies(got, 1), DEADLINE) == [b"1"]


async def test_publish_many_pipelines_in_order(env: Env) -> None:
    q = await env.queue()
    await env.bus.publish_many([msg("", q, str(i).encode()) for i in range(500)])
    assert await env.bus.queue_depth(q) == 500
    got = Collector()
    await env.bus.consume(q, got, prefetch=50)
    assert await _bodies(got, 500) == [str(i).encode() for i in range(500)]


async def test_queue_stats_count_ready_messages_and_consumers(env: Env) -> None:
    q = await env.queue()
    await env.bus.publish_many([msg("", q, b"x") for _ in range(3)])
    assert await env.bus.queue_stats(q) == QueueStats(messages=3, consumers=0)
    got = Collector()
    consumer = await env.bus.consume(q, got)
    await got.wait_for(3)
    stats = await env.bus.queue_stats(q)
    assert stats.consumers == 1 and stats.messages == 0  # delivered (unacked or acked): not ready
    await consumer.cancel()
    deadline = asyncio.get_running_loop().time() + DEADLINE
    while (await env.bus.queue_stats(q)).consumers != 0:  # the broker drops it asynchronously
        assert asyncio.get_running_loop().time() < deadline
        await asyncio.sleep(0.02)


async def test_priorities(env: Env) -> None:
    q = await env.queue(max_priority=5)
    await env.bus.publish_many([msg("", q, b"low", priority=1) for _ in range(3)])
    await env.bus.publish_many([msg("", q, b"high", priority=5), msg("", q, b"none")])
    got = Collector()
    await env.bus.consume(q, got, prefetch=1)
    assert await _bodies(got, 5) == [b"high", b"low", b"low", b"low", b"none"]


async def test_topology_errors(env: Env) -> None:
    q = await env.queue(max_priority=3)
    await env.bus.declare_queue(QueueSpec(name=q, max_priority=3))  # identical: fine
    with pytest.raises(PreconditionError):
        await env.bus.declare_queue(QueueSpec(name=q))
    ex = await env.exchange("topic")
    with pytest.raises(PreconditionError):
        await env.bus.declare_exchange(ex, "fanout")
    with pytest.raises(NotFoundError):
        await env.bus.queue_depth(env.name("missing"))
    with pytest.raises(NotFoundError):
        await env.bus.queue_stats(env.name("missing"))
    with pytest.raises(NotFoundError):
        await env.bus.consume(env.name("missing"), Collector())
    # The bus is still fully usable afterwards.
    await env.bus.publish(msg("", q, b"ok"))
    assert await env.bus.queue_depth(q) == 1


async def test_closed_bus_refuses(env: Env) -> None:
    q = await env.queue()
    env.queues.remove(q)
    await env.bus.delete_queue(q)
    await env.bus.close()
    with pytest.raises(BusClosedError):
        await env.bus.publish(msg("", q))
    await env.bus.connect()  # the fixture's teardown closes it again


def test_topic_matching() -> None:
    assert topic_matches("a.*.c", "a.b.c") and not topic_matches("a.*.c", "a.b.x.c")
    assert topic_matches("a.#", "a") and topic_matches("a.#", "a.b.c") and topic_matches("#", "x.y")
    assert topic_matches("#.c", "a.b.c") and topic_matches("a.#.c", "a.c")
    assert not topic_matches("a.#.c", "a.b")
    assert not topic_matches("*", "a.b") and topic_matches("*.*", "a.b")


@pytest.mark.parametrize("kind", ["memory", "amqp"])
async def test_a_message_over_the_limit_is_refused_and_the_bus_goes_on(
    kind: str, request: pytest.FixtureRequest
) -> None:
    """max_message_bytes stands in for the broker's max_message_size, which would close the
    publishing channel: the bus refuses the one message and every other publish still works."""
    bus: Bus = (
        AmqpBus(request.getfixturevalue("amqp_url"), connection_name="tidal-test-bus", max_message_bytes=1024)
        if kind == "amqp"
        else InMemoryBus(max_message_bytes=1024)
    )
    await bus.connect()
    e = Env(bus)
    try:
        q = await e.queue()
        got = Collector()
        await bus.consume(q, got)
        with pytest.raises(MessageTooLargeError, match="exceeds the bus limit of 1024 bytes"):
            await bus.publish(msg("", q, b"x" * 1025))
        with pytest.raises(MessageTooLargeError):
            await bus.publish_many([msg("", q, b"small"), msg("", q, b"y" * 2000)])
        await bus.publish(msg("", q, b"x" * 1024))
        assert sorted(d.body for d in await got.wait_for(2)) == [b"small", b"x" * 1024]
    finally:
        for name in e.queues:
            await bus.delete_queue(name)
        await bus.close()


async def test_a_validated_model_is_handed_over_once_to_one_queue_and_only_in_process(env: Env) -> None:
    """handover.py: the consumer of a message routed to one queue gets the publisher's frozen
    model on the in-memory bus (never over AMQP); a fanout to two queues, a redelivery after a
    nack and a dead-lettered copy are read from the bytes, which always stay what was sent."""
    from pydantic import BaseModel
    from tidal_schema import WorkflowExecutionStatus
    from tidal_schema.messages import NotifyMessage, WorkflowClosed
    from tidal_server.bus import decoded_as, union_members

    kinds = union_members(NotifyMessage)
    closed = WorkflowClosed(workflow_id="w", run_id="r", status=WorkflowExecutionStatus.COMPLETED)
    body = closed.model_dump_json().encode()
    in_process = isinstance(env.bus, InMemoryBus)
    tap = await env.dlq_tap()
    fan = await env.exchange("fanout")
    one, two = await env.queue((fan, "")), await env.queue((fan, ""))
    single = await env.queue()
    handed: list[tuple[str, bool, Any]] = []
    all_four = asyncio.Event()

    async def handler(d: Delivery) -> None:
        handed.append((d.queue, d.redelivered, decoded_as(d, kinds)))
        if len(handed) == 4:
            all_four.set()
        assert d.body == body
        if d.queue == single and not d.redelivered:
            await d.nack(requeue=True)
        elif d.queue == single:
            await d.dead_letter("look")
        else:
            await d.ack()

    for q in (one, two, single):
        await env.bus.consume(q, handler)
    await env.bus.publish(msg(fan, "", body, decoded=closed))
    await env.bus.publish(msg("", single, body, decoded=closed))
    (parked,) = await tap.wait_for(1)
    assert parked.body == body and decoded_as(parked, kinds) is None
    await asyncio.wait_for(all_four.wait(), DEADLINE)
    by_queue = {(q, redelivered): model for q, redelivered, model in handed}
    assert by_queue[(one, False)] is None and by_queue[(two, False)] is None
    assert by_queue[(single, True)] is None
    assert by_queue[(single, False)] is (closed if in_process else None)

    class Mutable(BaseModel):
        type: str = "WorkflowClosed"

    class FakeDelivery:
        decoded: object = Mutable()

    assert decoded_as(FakeDelivery(), (Mutable,)) is None  # not frozen: never shared
    FakeDelivery.decoded = closed
    assert decoded_as(FakeDelivery(), union_members(WorkflowClosed)) is closed
    assert decoded_as(FakeDelivery(), (QueueStats,)) is None  # type: ignore[arg-type]
