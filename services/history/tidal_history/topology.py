"""The queues history consumes and the exchanges it publishes to, declared idempotently."""

from __future__ import annotations

from tidal_schema import names
from tidal_server.bus import Bus, QueueSpec


async def declare(bus: Bus, shard_count: int) -> None:
    for exchange in (
        names.HISTORY_EXCHANGE,
        names.MATCHING_EXCHANGE,
        names.TIMER_EXCHANGE,
    ):
        await bus.declare_exchange(exchange, "direct")
    await bus.declare_exchange(names.NOTIFY_EXCHANGE, "fanout")
    for shard in range(shard_count):
        key = names.shard_routing_key(shard)
        await bus.declare_queue(
            QueueSpec(name=names.history_queue(shard), bindings=[(names.HISTORY_EXCHANGE, key)])
        )
        await bus.declare_queue(
            QueueSpec(name=names.timer_queue(shard), bindings=[(names.TIMER_EXCHANGE, key)])
        )
    await bus.declare_queue(
        QueueSpec(name=names.MATCHING_QUEUE, bindings=[(names.MATCHING_EXCHANGE, names.MATCHING_ROUTING_KEY)])
    )
