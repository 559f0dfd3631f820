"""One suite, both buses (the `env` fixture in conftest.py): request/reply (direct reply-to on
RabbitMQ) and handlers that publish.
"""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from tidal_server.bus import (
    Delivery,
    RequestTimeout,
    UnroutableError,
)

from .conftest import DEADLINE, Env, msg


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


async def test_a_requests_validated_model_is_handed_over_once_and_only_in_process(env: Env) -> None:
    """handover.py for request/reply (the frontend's writes to history): the request's frozen
    model reaches the one consumer on the in-memory bus (never over AMQP), a redelivery after a
    nack is read from the bytes, and the bytes always stay what was sent."""
    from tidal_schema import WorkflowExecutionStatus
    from tidal_schema.messages import NotifyMessage, WorkflowClosed
    from tidal_server.bus import InMemoryBus, decoded_as, union_members

    kinds = union_members(NotifyMessage)
    closed = WorkflowClosed(workflow_id="w", run_id="r", status=WorkflowExecutionStatus.COMPLETED)
    body = closed.model_dump_json().encode()
    q = await env.queue()
    handed: list[tuple[bool, Any]] = []

    async def server(d: Delivery) -> None:
        assert d.body == body and d.reply_to
        handed.append((d.redelivered, decoded_as(d, kinds)))
        if not d.redelivered:
            await d.nack(requeue=True)
            return
        await env.bus.publish(msg("", d.reply_to, b"ok", correlation_id=d.correlation_id))
        await d.ack()

    await env.bus.consume(q, server)
    reply = await env.bus.request(msg("", q, body, decoded=closed), timeout=DEADLINE)
    assert reply.body == b"ok"
    assert handed == [(False, closed if isinstance(env.bus, InMemoryBus) else None), (True, None)]


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
