"""Attacks on AmqpBus's lean publish path (tidal_amqp.channel_writer), against a real RabbitMQ: many
publishes in one turn, the broker refusing several coalesced publishes at once (a nack covering
them), two publishes in flight with one message id, the channel closed between coalescing and
writing. The invariant each checks: a publish reported confirmed is in its queue; one refused,
returned or lost with its channel fails (never reported confirmed)."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator

import pytest
from tidal_server.bus import AmqpBus, BusError, OutMessage, UnroutableError

DEADLINE = 30.0


@pytest.fixture
async def bus(amqp_url: str) -> AsyncIterator[AmqpBus]:
    bus = AmqpBus(amqp_url, connection_name="tidal-test-bus-attacks")
    await bus.connect()
    try:
        yield bus
    finally:
        await bus.close()


async def _queue(bus: AmqpBus, **arguments: object) -> str:
    """A queue declared with arguments QueueSpec does not carry (on a probe channel)."""
    name = f"test.amqp-attack.{uuid.uuid4().hex[:10]}"
    async with bus._raw_channel() as ch:
        await ch.queue_declare(name, durable=True, arguments=arguments or None)
    return name


async def _settle(bus: AmqpBus, messages: list[OutMessage]) -> list[BaseException | None]:
    """Publish every message in one loop turn (one write); each one's outcome."""
    return await asyncio.gather(*(bus.publish(m) for m in messages), return_exceptions=True)


async def test_a_thousand_publishes_in_one_turn_are_each_confirmed_once(bus: AmqpBus) -> None:
    queue = await _queue(bus)
    try:
        results = await _settle(
            bus, [OutMessage(exchange="", routing_key=queue, body=b"%d" % i) for i in range(1000)]
        )
        assert results == [None] * 1000
        assert await bus.queue_depth(queue) == 1000
    finally:
        await bus.delete_queue(queue)


async def test_a_nack_covering_several_coalesced_publishes_fails_exactly_those(bus: AmqpBus) -> None:
    """A queue that refuses what is over its length (x-overflow reject-publish) makes the broker
    nack those publishes, several at once (multiple=True) when they came in one write."""
    queue = await _queue(bus, **{"x-max-length": 5, "x-overflow": "reject-publish"})
    try:
        results = await _settle(
            bus, [OutMessage(exchange="", routing_key=queue, body=b"%d" % i) for i in range(40)]
        )
        confirmed = [i for i, r in enumerate(results) if r is None]
        refused = [r for r in results if r is not None]
        assert len(confirmed) == 5 and all(isinstance(r, BusError) for r in refused)
        assert await bus.queue_depth(queue) == 5
    finally:
        await bus.delete_queue(queue)


@pytest.mark.parametrize("returned_first", [True, False], ids=["returned-first", "returned-second"])
async def test_two_publishes_in_flight_with_one_message_id(bus: AmqpBus, returned_first: bool) -> None:
    """A broker return names its publish only by message id. Two mandatory publishes in flight
    with the same id (a retry, a timer's fire sent again), one unroutable: the return must fail
    the unroutable one, never report it confirmed while failing the other."""
    queue = await _queue(bus)
    try:
        good = OutMessage(exchange="", routing_key=queue, body=b"good", message_id="same")
        lost = OutMessage(exchange="", routing_key=f"{queue}.nobody", body=b"lost", message_id="same")
        order = [lost, good] if returned_first else [good, lost]
        results = dict(zip(("first", "second"), await _settle(bus, order), strict=True))
        outcome = {m.body: r for m, r in zip(order, results.values(), strict=True)}
        assert outcome[b"good"] is None
        assert isinstance(outcome[b"lost"], UnroutableError)
        assert await bus.queue_depth(queue) == 1
    finally:
        await bus.delete_queue(queue)


@pytest.mark.parametrize("turns", [0, 1, 2, 3])
async def test_the_channel_closed_between_coalescing_and_writing(bus: AmqpBus, turns: int) -> None:
    """Publishes appended to the turn's write, then the publishing channel closed before or as
    the write goes out: what is reported confirmed is in the queue, the rest failed, and the bus
    publishes on the reopened channel afterwards."""
    queue = await _queue(bus)
    try:
        assert bus._pub is not None
        raw = await bus._pub.get_underlay_channel()
        tasks = [
            asyncio.ensure_future(bus.publish(OutMessage(exchange="", routing_key=queue, body=b"%d" % i)))
            for i in range(50)
        ]
        for _ in range(turns):
            await asyncio.sleep(0)
        await raw.close()
        results = await asyncio.gather(*tasks, return_exceptions=True)
        confirmed = sum(r is None for r in results)
        assert all(r is None or isinstance(r, BusError) for r in results), results
        assert await bus.queue_depth(queue) >= confirmed
        async with asyncio.timeout(DEADLINE):
            while True:  # the robust channel reopens; publishing goes on
                try:
                    await bus.publish(OutMessage(exchange="", routing_key=queue, body=b"after"))
                    break
                except BusError:
                    await asyncio.sleep(0.05)
    finally:
        await bus.delete_queue(queue)
