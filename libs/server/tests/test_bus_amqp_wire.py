"""AmqpBus's lean wire path (tidal_amqp.channel_writer; its frames are held to pamqp's in
libs/amqp/tests/test_frames.py): a RabbitMQ node killed (SIGKILL) in the middle of coalesced
publishes loses no publish reported confirmed; publishing carries on once it is back. The
proxy-cut cases are in test_bus_amqp.py."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Iterator

import pytest
from tidal_server.bus import (
    AmqpBus,
    BusError,
    OutMessage,
    QueueSpec,
)

from tests.support.rabbitmq import RabbitMQ, start_private_rabbitmq

DEADLINE = 120.0
WINDOWS, PER_WINDOW = 20, 100


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


async def test_a_broker_killed_mid_batch_loses_no_confirmed_publish(private_rabbitmq: RabbitMQ) -> None:
    bus = AmqpBus(private_rabbitmq.url, connection_name="tidal-test-bus-kill")
    await bus.connect()
    queue = f"test.amqp-kill.{uuid.uuid4().hex[:10]}"
    await bus.declare_queue(QueueSpec(name=queue, dead_letter=False))
    ok: list[bytes] = []
    failed: list[BaseException] = []
    progress = asyncio.Event()

    async def one(m: OutMessage) -> None:
        try:
            await bus.publish(m)
        # Unroutable: the broker took the connection back before it had recovered the durable
        # queue; the publish was refused, not reported confirmed, so it counts as failed. So does
        # any other BusError (a broker's nack while a queue recovers is "refused the message"):
        # what is checked is that nothing reported confirmed is missing.
        except BusError as exc:  # ConnectionLostError, BusClosedError, UnroutableError among them
            failed.append(exc)
        else:
            ok.append(m.body)
        progress.set()

    async def windows() -> None:
        for w in range(WINDOWS):
            await asyncio.gather(
                *(
                    one(OutMessage(exchange="", routing_key=queue, body=b"%d.%d" % (w, i)))
                    for i in range(PER_WINDOW)
                )
            )

    try:
        task = asyncio.create_task(windows())
        async with asyncio.timeout(DEADLINE):
            while len(ok) < 150:
                progress.clear()
                await progress.wait()
        await asyncio.to_thread(private_rabbitmq.kill, hard=True)
        await asyncio.to_thread(private_rabbitmq.start_again)
        async with asyncio.timeout(DEADLINE):  # the windows after the crash wait for the reconnect
            await task
        assert failed, "the kill failed no publish: it came too late to test anything"
        assert len(ok) + len(failed) == WINDOWS * PER_WINDOW
        held: set[bytes] = set()
        async with bus._raw_channel() as ch:
            while (m := await ch.basic_get(queue, no_ack=True)).delivery.name == "Basic.GetOk":
                held.add(m.body)
        assert set(ok) <= held, f"{len(set(ok) - held)} publishes reported confirmed were lost"
    finally:
        await bus.close()
