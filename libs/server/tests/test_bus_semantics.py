"""One suite, both buses: AmqpBus against a real RabbitMQ (root `amqp_url` fixture) and InMemoryBus.

Every test uses uuid-suffixed names, so tests never see each other's messages; the shared DLQ is
observed through a per-test "tap" queue bound to the DLX fanout exchange.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator
from dataclasses import replace
from typing import Any

import pytest
from tidal_server.bus import (
    DLQ_QUEUE,
    DLX_EXCHANGE,
    H_DL_EXCHANGE,
    H_DL_QUEUE,
    H_DL_REASON,
    H_DL_ROUTING_KEY,
    AmqpBus,
    Bus,
    BusClosedError,
    Delivery,
    ExclusiveConsumerError,
    Handler,
    InMemoryBus,
    MessageTooLargeError,
    NotFoundError,
    OutMessage,
    PreconditionError,
    QueueSpec,
    QueueStats,
    RequestTimeout,
    UnroutableError,
    ack_all,
)
from tidal_server.bus._memstate import topic_matches

DEADLINE = 10.0


class Collector:
    """A handler that records deliveries (acking them unless told not to)."""

    def __init__(self, *, ack: bool = True) -> None:
        self.ack = ack
        self.items: list[Delivery] = []
        self._changed = asyncio.Event()

    async def __call__(self, d: Delivery) -> None:
        self.items.append(d)
        if self.ack:
            await d.ack()
        self._changed.set()

    @property
    def bodies(self) -> list[bytes]:
        return [d.body for d in self.items]

    async def wait_for(self, n: int, within: float = DEADLINE) -> list[Delivery]:
        async with asyncio.timeout(within):
            while len(self.items) < n:
                self._changed.clear()
                await self._changed.wait()
        return self.items


class Env:
    def __init__(self, bus: Bus) -> None:
        self.bus = bus
        self.tag = uuid.uuid4().hex[:10]
        self.queues: list[str] = []

    def name(self, what: str) -> str:
        return f"test.{what}.{self.tag}"

    async def exchange(self, kind: Any = "direct") -> str:
        name = self.name(f"ex-{kind}-{uuid.uuid4().hex[:6]}")
        await self.bus.declare_exchange(name, kind)
        return name

    async def queue(self, *bindings: tuple[str, str], **kw: Any) -> str:
        name = self.name(f"q-{uuid.uuid4().hex[:6]}")
        await self.bus.declare_queue(QueueSpec(name=name, bindings=bindings, **kw))
        self.queues.append(name)
        return name

    async def dlq_tap(self) -> Collector:
        """A private copy of everything dead-lettered from now on (DLX is a fanout)."""
        tap = Collector()
        await self.bus.consume(await self.queue((DLX_EXCHANGE, "")), tap)
        return tap


@pytest.fixture(params=["memory", "amqp"])
async def env(request: pytest.FixtureRequest) -> AsyncIterator[Env]:
    bus: Bus
    if request.param == "amqp":
        bus = AmqpBus(request.getfixturevalue("amqp_url"), connection_name="tidal-test-bus")
    else:
        bus = InMemoryBus()
    await bus.connect()
    e = Env(bus)
    try:
        yield e
    finally:
        for q in e.queues:
            await bus.delete_queue(q)
        await bus.close()


def msg(exchange: str, key: str, body: bytes = b"{}", **kw: Any) -> OutMessage:
    return OutMessage(exchange=exchange, routing_key=key, body=body, **kw)


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


async def _bodies(c: Collector, n: int) -> list[bytes]:
    return [d.body for d in await c.wait_for(n)]


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


async def test_handler_error_dead_letters_and_consumer_goes_on(env: Env) -> None:
    tap = await env.dlq_tap()
    ex = await env.exchange()
    q = await env.queue((ex, "rk"))
    ok: list[bytes] = []
    done = asyncio.Event()

    async def handler(d: Delivery) -> None:
        if d.body == b"bad":
            raise ValueError("boom")
        ok.append(d.body)
        await d.ack()
        done.set()

    await env.bus.consume(q, handler)
    await env.bus.publish_many([msg(ex, "rk", b"bad", headers={"keep": "me"}), msg(ex, "rk", b"good")])
    (dead,) = await tap.wait_for(1)
    await asyncio.wait_for(done.wait(), DEADLINE)
    assert ok == [b"good"] and dead.body == b"bad"
    assert dead.headers[H_DL_REASON] == "ValueError: boom"
    assert (dead.headers[H_DL_QUEUE], dead.headers[H_DL_EXCHANGE]) == (q, ex)
    assert (dead.headers[H_DL_ROUTING_KEY], dead.headers["keep"]) == ("rk", "me")
    assert await env.bus.queue_depth(q) == 0


async def test_explicit_dead_letter_and_reject(env: Env) -> None:
    tap = await env.dlq_tap()
    q = await env.queue()
    dropped = await env.queue(dead_letter=False)

    async def handler(d: Delivery) -> None:
        if d.body == b"dl":
            await d.dead_letter("operator look")
        else:
            await d.nack(requeue=False)
        await d.ack()  # settling twice is a no-op

    for name in (q, dropped):
        await env.bus.consume(name, handler)
    await env.bus.publish_many([msg("", dropped, b"dl"), msg("", dropped, b"rej")])
    await env.bus.publish_many([msg("", q, b"dl"), msg("", q, b"rej")])
    got = await tap.wait_for(2)
    # Only the dead_letter=True queue's messages arrive (they were published last, after the others).
    assert sorted(d.body for d in got) == [b"dl", b"rej"]
    assert {d.headers.get(H_DL_REASON) for d in got} == {"operator look", None}
    assert DLQ_QUEUE == "tidal.dead-letter"


async def test_nack_requeue_redelivers(env: Env) -> None:
    q = await env.queue()
    seen: list[bool] = []
    done = asyncio.Event()

    async def handler(d: Delivery) -> None:
        seen.append(d.redelivered)
        if d.redelivered:
            await d.ack()
            done.set()
        else:
            await d.nack(requeue=True)

    await env.bus.consume(q, handler)
    await env.bus.publish(msg("", q))
    await asyncio.wait_for(done.wait(), DEADLINE)
    assert seen == [False, True]


async def test_prefetch_bounds_unsettled(env: Env) -> None:
    q = await env.queue()
    await env.bus.publish_many([msg("", q, str(i).encode()) for i in range(10)])
    got = Collector(ack=False)
    await env.bus.consume(q, got, prefetch=3)
    await got.wait_for(3)
    assert await env.bus.queue_depth(q) == 7  # the broker holds the rest back
    for d in list(got.items):
        await d.ack()
    await got.wait_for(6)
    assert await env.bus.queue_depth(q) == 4


async def test_cancel_requeues_unsettled(env: Env) -> None:
    q = await env.queue()
    first = Collector(ack=False)
    consumer = await env.bus.consume(q, first, prefetch=10)
    await env.bus.publish_many([msg("", q, b"1"), msg("", q, b"2")])
    await first.wait_for(2)
    await consumer.cancel()
    with pytest.raises(BusClosedError):
        await first.items[0].ack()
    second = Collector()
    await env.bus.consume(q, second)
    again = await second.wait_for(2)
    assert sorted(d.body for d in again) == [b"1", b"2"] and all(d.redelivered for d in again)


async def test_ack_all_acks_the_group_and_nothing_outside_it(env: Env) -> None:
    """ack_all may use one cumulative ack (RabbitMQ's multiple=True): a delivery outside the group,
    below, between or above its tags, must stay unacked and come back after a cancel."""
    q = await env.queue()
    first = Collector(ack=False)
    consumer = await env.bus.consume(q, first, prefetch=20)
    await env.bus.publish_many([msg("", q, b"%d" % i) for i in range(8)])
    got = await first.wait_for(8)
    by_body = {d.body: d for d in got}
    await ack_all([by_body[b"1"], by_body[b"2"]])  # 0 below is held
    await by_body[b"0"].nack(requeue=True)  # settled on its own, then the rest covers it
    await ack_all([by_body[b"3"], by_body[b"5"]])  # 4 between is held
    await ack_all([by_body[b"6"], by_body[b"6"]])  # 7 above is held; a duplicate is one ack
    assert all(by_body[b].settled for b in (b"1", b"2", b"3", b"5", b"6"))
    await consumer.cancel()
    second = Collector()
    await env.bus.consume(q, second)
    again = await second.wait_for(3)
    assert sorted(d.body for d in again) == [b"0", b"4", b"7"]
    await asyncio.sleep(0.2)  # nothing else comes back
    assert len(second.items) == 3


async def test_ack_all_of_a_whole_prefix_settles_everything(env: Env) -> None:
    q = await env.queue()
    first = Collector(ack=False)
    consumer = await env.bus.consume(q, first, prefetch=20)
    await env.bus.publish_many([msg("", q, b"%d" % i) for i in range(5)])
    got = await first.wait_for(5)
    await got[0].ack()
    await ack_all(got)  # the settled one is skipped
    await consumer.cancel()
    second = Collector()
    await env.bus.consume(q, second)
    await env.bus.publish(msg("", q, b"after"))
    assert [d.body for d in await second.wait_for(1)] == [b"after"]


async def test_ack_all_after_cancel_raises_closed(env: Env) -> None:
    q = await env.queue()
    first = Collector(ack=False)
    consumer = await env.bus.consume(q, first, prefetch=20)
    await env.bus.publish_many([msg("", q, b"%d" % i) for i in range(3)])
    got = await first.wait_for(3)
    await consumer.cancel()
    with pytest.raises(BusClosedError):  # the broker requeued them; the tags are void
        await ack_all(got)


async def test_exclusive_consume(env: Env) -> None:
    q = await env.queue()
    got = Collector()
    owner = await env.bus.consume(q, got, exclusive=True)
    with pytest.raises(ExclusiveConsumerError):
        await env.bus.consume(q, Collector(), exclusive=True)
    with pytest.raises(ExclusiveConsumerError):
        await env.bus.consume(q, Collector())
    await env.bus.publish(msg("", q, b"still mine"))
    assert [d.body for d in await got.wait_for(1)] == [b"still mine"]
    await owner.cancel()
    other = Collector()
    await env.bus.consume(q, other, exclusive=True)
    await env.bus.publish(msg("", q, b"next owner"))
    assert [d.body for d in await other.wait_for(1)] == [b"next owner"]


async def test_round_robin_and_single_active_consumer(env: Env) -> None:
    shared, sac = await env.queue(), await env.queue(single_active_consumer=True)
    both, per_consumer = Collector(), {"a": 0, "b": 0}

    def counting(tag: str) -> Handler:
        async def handler(d: Delivery) -> None:
            per_consumer[tag] += 1
            await both(d)

        return handler

    c, d = Collector(), Collector()
    await env.bus.consume(shared, counting("a"), prefetch=1)
    await env.bus.consume(shared, counting("b"), prefetch=1)
    c_consumer = await env.bus.consume(sac, c)
    await env.bus.consume(sac, d)
    await env.bus.publish_many([msg("", shared, b"x") for _ in range(10)])
    await env.bus.publish_many([msg("", sac, b"y") for _ in range(5)])
    await both.wait_for(10)
    assert per_consumer["a"] and per_consumer["b"]
    await c.wait_for(5)
    await c_consumer.cancel()
    await env.bus.publish(msg("", sac, b"z"))
    assert [x.body for x in await d.wait_for(1)] == [b"z"]
    assert len(c.items) == 5


async def test_priorities(env: Env) -> None:
    q = await env.queue(max_priority=5)
    await env.bus.publish_many([msg("", q, b"low", priority=1) for _ in range(3)])
    await env.bus.publish_many([msg("", q, b"high", priority=5), msg("", q, b"none")])
    got = Collector()
    await env.bus.consume(q, got, prefetch=1)
    assert await _bodies(got, 5) == [b"high", b"low", b"low", b"low", b"none"]


async def test_request_reply(env: Env) -> None:
    q = await env.queue()

    async def server(d: Delivery) -> None:
        assert d.reply_to
        reply = msg("", d.reply_to, b"re:" + d.body, correlation_id=d.correlation_id)
        await env.bus.publish(reply)
        await d.ack()

    await env.bus.consume(q, server)
    replies = await asyncio.gather(
        *(env.bus.request(msg("", q, str(i).encode()), timeout=DEADLINE) for i in range(20))
    )
    assert [r.body for r in replies] == [f"re:{i}".encode() for i in range(20)]
    r = await env.bus.request(msg("", q, b"c", correlation_id="mine"), timeout=DEADLINE)
    assert (r.correlation_id, r.settled) == ("mine", True)
    await r.ack()  # replies are no-ack: settling is a no-op

    silent = await env.queue()
    with pytest.raises(RequestTimeout):
        await env.bus.request(msg("", silent), timeout=0.2)
    with pytest.raises(UnroutableError):
        await env.bus.request(msg("", env.name("nobody")), timeout=DEADLINE)


async def test_a_request_cancelled_as_its_reply_arrives_is_cancelled(env: Env) -> None:
    """The requester's cancellation (its caller's timeout, a shutdown) is never lost, also when it
    comes in the loop turn the reply arrives in: Python 3.11's `asyncio.wait_for` returned the
    reply then and swallowed the cancel (the embedded mode's start with a 1 us timeout answered
    201; a task cancelled there ran on)."""
    q = await env.queue()
    requester: asyncio.Task[Any] | None = None

    async def server(d: Delivery) -> None:
        assert d.reply_to and requester is not None
        # The cancel runs first in the turn the reply wakes the requester in (or before the
        # reply, where publishing yields first).
        asyncio.get_running_loop().call_soon(requester.cancel)
        # Mandatory, as a careful replier publishes: the reply to a cancelled requester may find
        # no route, and the handler then dead-letters the request, racing the consumer's cancel
        # at teardown (that race killed the connection: test_bus_amqp_close.py).
        await env.bus.publish(msg("", d.reply_to, b"late", correlation_id=d.correlation_id))
        await d.ack()

    await env.bus.consume(q, server)
    for _ in range(5):
        requester = asyncio.create_task(env.bus.request(msg("", q), timeout=DEADLINE))
        with pytest.raises(asyncio.CancelledError):
            await requester
        assert requester.cancelled()


async def test_handler_publishing_never_deadlocks(env: Env) -> None:
    q = await env.queue()
    done = asyncio.Event()

    async def hop(d: Delivery) -> None:
        n = int(d.body)
        if n == 200:
            done.set()
        else:  # publish to our own queue before settling
            await env.bus.publish(msg("", q, str(n + 1).encode()))
        await d.ack()

    await env.bus.consume(q, hop, prefetch=1)
    await env.bus.publish(msg("", q, b"0"))
    await asyncio.wait_for(done.wait(), DEADLINE)


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


async def test_cancel_stops_in_flight_handlers(env: Env) -> None:
    q = await env.queue()
    started, stopped = asyncio.Event(), asyncio.Event()

    async def slow(d: Delivery) -> None:
        started.set()
        try:
            await asyncio.Event().wait()  # never finishes on its own
        except asyncio.CancelledError:
            stopped.set()
            raise

    consumer = await env.bus.consume(q, slow)
    await env.bus.publish(msg("", q))
    await asyncio.wait_for(started.wait(), DEADLINE)
    await consumer.cancel()
    await asyncio.wait_for(stopped.wait(), DEADLINE)
    assert await env.bus.queue_depth(q) == 1  # requeued


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
