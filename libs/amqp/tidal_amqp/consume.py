"""Consumers that take deliveries straight from aiormq's channel under aio-pika's robust one.

aio-pika turns every delivery into an `IncomingMessage` (every property decoded and copied, a
lock checked per attribute set) and runs the callback in a task of its own, on top of the task
aiormq already runs each delivery in. A worker reads three properties of a task and settles it
once, so `LeanQueue.consume` hands aiormq a callback that gets aiormq's `DeliveredMessage`,
and routes the channel's deliveries first (`deliveries.route_deliveries`: assembled as the
connection's reader hands their frames over).

What the robust layer gives stays as it is, because these are aio-pika's own classes with only
the consume call changed (`connect_robust(connection_class=LeanConnection)`): after a reconnect
or a channel's reopen the channel restores its qos, each queue is declared again and
`RobustQueue.restore` consumes again through `LeanQueue.consume` (the lean path); a consumer the
broker cancelled is restored by aio-pika's `_restore_missing_consumers`, which calls the base
`Queue.consume`, so that path delivers `IncomingMessage`s to `LeanConsumer.__call__`.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

from aio_pika import RobustChannel, RobustConnection, RobustQueue
from aio_pika.abc import AbstractIncomingMessage, ConsumerTag
from aiormq.abc import DeliveredMessage

from .deliveries import route_deliveries

__all__ = ["LeanChannel", "LeanConnection", "LeanConsumer", "LeanQueue"]


class LeanConsumer:
    """A queue's callback in both forms aio-pika may call it."""

    __slots__ = ("_on_incoming", "_on_raw")

    def __init__(
        self,
        *,
        on_raw: Callable[[DeliveredMessage], Awaitable[None]],
        on_incoming: Callable[[AbstractIncomingMessage], Awaitable[None]],
    ) -> None:
        self._on_raw = on_raw
        self._on_incoming = on_incoming

    async def __call__(self, message: AbstractIncomingMessage) -> None:
        await self._on_incoming(message)

    async def on_raw(self, message: DeliveredMessage) -> None:
        await self._on_raw(message)


class LeanQueue(RobustQueue):
    __slots__ = ()

    async def consume(
        self,
        callback: Callable[[AbstractIncomingMessage], Awaitable[Any]],
        no_ack: bool = False,
        exclusive: bool = False,
        arguments: dict[str, Any] | None = None,
        consumer_tag: ConsumerTag | None = None,
        timeout: float | None = None,
        robust: bool = True,
    ) -> ConsumerTag:
        if not isinstance(callback, LeanConsumer):
            return await super().consume(
                callback,
                no_ack=no_ack,
                exclusive=exclusive,
                arguments=arguments,
                consumer_tag=consumer_tag,
                timeout=timeout,
                robust=robust,
            )
        channel = await self.channel.get_underlay_channel()
        route_deliveries(channel)
        ok = await channel.basic_consume(
            queue=self.name,
            consumer_callback=callback.on_raw,
            no_ack=no_ack,
            exclusive=exclusive,
            arguments=arguments,
            consumer_tag=consumer_tag,
            timeout=timeout,
        )
        tag = ok.consumer_tag
        if tag is None:  # as aio-pika: pamqp types it optional
            raise RuntimeError("Consumer tag is None")
        if robust:
            # What RobustQueue.restore consumes again with after a reconnect (the same call).
            self._consumers[tag] = dict(
                callback=callback, no_ack=no_ack, exclusive=exclusive, arguments=arguments
            )
        return tag


class LeanChannel(RobustChannel):
    QUEUE_CLASS = LeanQueue


class LeanConnection(RobustConnection):
    CHANNEL_CLASS = LeanChannel
