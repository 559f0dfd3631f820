"""The worker's AMQP transport against a real broker."""

from __future__ import annotations

import asyncio
import uuid

import aio_pika
import aiormq
import pytest
from tidal._task_queue_rate import RateDeclarer
from tidal._transport import AmqpTransport, TaskDelivery
from tidal_amqp.outbox import RawDelivery

from tests.support.stack import wait_for
from tests.support.tcp_proxy import Proxy


async def test_a_rate_declaration_to_a_missing_exchange_leaves_completions_working(
    fresh_vhost_amqp_url: str,
) -> None:
    """On a vhost where no matching (nor history) ever ran, `tidal.matching` does not exist and
    the broker closes the channel a publish to it went through. The declaration goes on a
    channel of its own: the next completion on the worker's publishing channel still goes out."""
    transport = AmqpTransport(fresh_vhost_amqp_url)
    queue = f"completions-{uuid.uuid4().hex[:8]}"
    conn = await aio_pika.connect(fresh_vhost_amqp_url)
    try:
        q = await (await conn.channel()).declare_queue(queue, auto_delete=True)
        declarer = RateDeclarer(
            transport=transport, namespace="ns", task_queue="q", per_second=2.0, identity="w"
        )
        await declarer.declare()  # logged, not raised
        await transport.publish("", queue, b'{"completion": 1}')
        message = await q.get(no_ack=True, fail=False)
        for _ in range(50):
            if message is not None:
                break
            message = await q.get(no_ack=True, fail=False)
        assert message is not None and message.body == b'{"completion": 1}'
    finally:
        await conn.close()
        await transport.close()


async def test_a_returned_completion_is_not_reported_as_published(amqp_url: str) -> None:
    """A completion the broker cannot route (mandatory, no queue bound) comes back as a
    Basic.Return before its ack. aio-pika's robust channels do not raise on a return, and the
    worker's publish straight to aiormq's channel took the returned message as the confirm's
    result: the publish "succeeded", the task was acked, and the completion was gone. It now
    fails, so the task is retried as on any other publish failure."""
    transport = AmqpTransport(amqp_url)
    try:
        with pytest.raises(aiormq.exceptions.PublishError):
            await transport.publish("", f"nobody-{uuid.uuid4().hex[:8]}", b'{"completion": 1}')
        # The channel carries on: the next completion, to a queue that exists, is confirmed.
        queue = f"completions-{uuid.uuid4().hex[:8]}"
        conn = await aio_pika.connect(amqp_url)
        try:
            q = await (await conn.channel()).declare_queue(queue, auto_delete=True)
            await transport.publish("", queue, b'{"completion": 2}')
            assert q.declaration_result.message_count == 0
            declared = await (await conn.channel()).declare_queue(queue, passive=True)
            assert declared.declaration_result.message_count == 1
        finally:
            await conn.close()
    finally:
        await transport.close()


async def test_completions_published_together_are_each_confirmed(amqp_url: str) -> None:
    """300 completions published in the same loop turns share writes; each one returns only once
    the broker has it, and each is in the queue once."""
    transport = AmqpTransport(amqp_url)
    queue = f"completions-{uuid.uuid4().hex[:8]}"
    conn = await aio_pika.connect(amqp_url)
    try:
        channel = await conn.channel()
        await channel.declare_queue(queue, auto_delete=False)
        bodies = [b'{"n": %d}' % i for i in range(300)]
        await asyncio.gather(*(transport.publish("", queue, body) for body in bodies))
        q = await channel.declare_queue(queue, passive=True)
        assert q.declaration_result.message_count == 300
        got = []
        while (message := await q.get(no_ack=True, fail=False)) is not None:
            got.append(message.body)
        assert sorted(got) == sorted(bodies)
        await q.delete(if_unused=False, if_empty=False)
    finally:
        await conn.close()
        await transport.close()


async def test_a_connection_lost_with_completions_unconfirmed_fails_each_and_they_go_again(
    amqp_url: str,
) -> None:
    """Hostile: the broker has every completion but none of its confirms reached the worker when
    the connection dies. No publish may have returned (the worker acks its task only after the
    confirm); each fails, and published again after the reconnect, each is in the queue (twice:
    at least once is the promise)."""
    proxy, url = await Proxy.before(amqp_url)
    transport = AmqpTransport(url + "?reconnect_interval=0.2")
    queue = f"completions-{uuid.uuid4().hex[:8]}"
    conn = await aio_pika.connect(amqp_url)
    failures: dict[bytes, int] = {}

    async def report(body: bytes) -> None:
        # As a worker reports an activity's outcome (`_reporting.report_with_retry`).
        while True:
            try:
                await transport.publish("", queue, body)
                return
            except Exception:
                failures[body] = failures.get(body, 0) + 1
            await asyncio.sleep(0.05)  # backoff between publishes, not synchronisation

    try:
        channel = await conn.channel()
        await channel.declare_queue(queue, auto_delete=False)
        await transport.publish("", queue, b"warm-up")  # the connection and channel exist
        proxy.hold_replies()
        bodies = [b'{"n": %d}' % i for i in range(200)]
        reports = [asyncio.create_task(report(body)) for body in bodies]

        async def broker_has_all() -> bool:
            q = await channel.declare_queue(queue, passive=True)
            return q.declaration_result.message_count == 1 + len(bodies)

        await wait_for(broker_has_all, timeout=30, interval=0.02, what="the broker to hold every completion")
        assert not any(r.done() for r in reports), "a publish returned without its confirm"
        proxy.cut()
        async with asyncio.timeout(30):
            await asyncio.gather(*reports)
        assert sorted(failures) == sorted(bodies), "every unconfirmed publish must fail"
        q = await channel.declare_queue(queue, passive=True)
        got: list[bytes] = []
        while (message := await q.get(no_ack=True, fail=False)) is not None:
            got.append(message.body)
        assert set(got) == {b"warm-up", *bodies}
        assert len(got) == 1 + 2 * len(bodies)
        await q.delete(if_unused=False, if_empty=False)
    finally:
        await conn.close()
        await transport.close()
        await proxy.stop()


async def test_a_task_redelivered_after_a_reconnect_runs_once_and_a_stale_ack_stays_on_its_channel(
    amqp_url: str,
) -> None:
    """Hostile: the connection dies while a task is being run. After the reconnect the consumer
    takes tasks again with its prefetch; the task comes again once (redelivered); and the ack of
    the first delivery, whose tag was 1 on the dead channel as the redelivery's is on the new
    one, is refused, not sent on the new channel (it would have settled the redelivery)."""
    proxy, url = await Proxy.before(amqp_url)
    transport = AmqpTransport(url + "?reconnect_interval=0.2")
    queue = f"tasks-{uuid.uuid4().hex[:8]}"
    conn = await aio_pika.connect(amqp_url)
    seen: list[TaskDelivery] = []
    auto_ack = asyncio.Event()

    async def handler(delivery: TaskDelivery) -> None:
        seen.append(delivery)
        if auto_ack.is_set():
            await delivery.ack()

    def bodies() -> list[bytes]:
        return [d.body for d in seen]

    async def ready() -> int:
        q = await channel.declare_queue(queue, passive=True)
        return q.declaration_result.message_count

    try:
        channel = await conn.channel()
        await transport.declare_task_queue(queue, sticky=False)
        await transport.consume(queue, handler, prefetch=5)
        await transport.publish("", queue, b"task-1")
        await wait_for(lambda: bodies() == [b"task-1"], timeout=30, what="the first delivery")
        first = seen[0]
        proxy.cut()
        await wait_for(lambda: len(seen) == 2, timeout=30, what="the redelivery after the reconnect")
        again = seen[1]
        assert again.body == b"task-1"
        assert isinstance(again, RawDelivery) and again.redelivered
        with pytest.raises(aiormq.exceptions.ChannelInvalidStateError):
            await first.ack()
        # The redelivery is still the broker's to give back: nothing settled it.
        for n in range(2, 22):
            await transport.publish("", queue, b"task-%d" % n)
        # Prefetch 5 holds after the reconnect: task-1 (unacked) and four more, 16 left ready.
        await wait_for(
            lambda: len(seen) == 6, timeout=30, what="the consumer to take tasks up to its prefetch"
        )
        assert await ready() == 16 and len(seen) == 6
        assert bodies().count(b"task-1") == 2
        await again.nack(requeue=True)
        await wait_for(lambda: len(seen) == 7, timeout=30, what="the nacked task to come back")
        assert seen[6].body == b"task-1"
        auto_ack.set()  # from here on the handler acks what it takes
        for delivery in seen[2:]:
            await delivery.ack()
        # task-1 three times (the dead channel's, its redelivery, after the nack), the rest once.
        await wait_for(lambda: len(seen) == 23, timeout=30, what="every task")
        assert sorted(bodies()) == sorted([b"task-1", b"task-1"] + [b"task-%d" % n for n in range(1, 22)])
        assert await ready() == 0
        await channel.queue_delete(queue)
    finally:
        await conn.close()
        await transport.close()
        await proxy.stop()


async def test_a_consumer_the_broker_cancelled_consumes_again(amqp_url: str) -> None:
    """The broker cancels a consumer whose queue is deleted; once the queue is back, aio-pika
    restores the consumer through its own consume (deliveries then come as IncomingMessages to
    the lean consumer's other entry) and tasks flow again, each settled once."""
    transport = AmqpTransport(amqp_url)
    queue = f"tasks-{uuid.uuid4().hex[:8]}"
    conn = await aio_pika.connect(amqp_url)
    seen: list[bytes] = []

    async def handler(delivery: TaskDelivery) -> None:
        seen.append(delivery.body)
        await delivery.ack()

    try:
        channel = await conn.channel()
        await transport.declare_task_queue(queue, sticky=False)
        await transport.consume(queue, handler, prefetch=5)
        await transport.publish("", queue, b"before")
        await wait_for(lambda: seen == [b"before"], timeout=30, what="the first task")
        await channel.queue_delete(queue)
        await transport.declare_task_queue(queue, sticky=False)

        await transport.publish("", queue, b"after")  # waits in the queue until it is consumed again
        await wait_for(lambda: seen == [b"before", b"after"], timeout=60, what="the restored consumer")
        q = await channel.declare_queue(queue, passive=True)
        assert q.declaration_result.message_count == 0
        await channel.queue_delete(queue)
    finally:
        await conn.close()
        await transport.close()
