"""tidal_server.bus: the one messaging abstraction every service uses.

`AmqpBus` (RabbitMQ) and `InMemoryBus` (embedded dev mode, unit tests) implement the same `Bus`
protocol with the same semantics; the test suite runs against both.
"""

from ._api import (
    DIRECT_REPLY_TO,
    DLQ_QUEUE,
    DLX_EXCHANGE,
    H_DELIVERY_ATTEMPT,
    H_DL_EXCHANGE,
    H_DL_QUEUE,
    H_DL_REASON,
    H_DL_ROUTING_KEY,
    Bus,
    BusClosedError,
    BusError,
    ConnectionLostError,
    Consumer,
    Delivery,
    ExchangeKind,
    ExclusiveConsumerError,
    Handler,
    MessageTooLargeError,
    NotFoundError,
    OutMessage,
    PreconditionError,
    QueueSpec,
    QueueStats,
    RequestTimeout,
    UnroutableError,
    WatchesConnection,
)
from ._settle import ack_all
from .amqp import AmqpBus
from .handover import decoded_as, union_members
from .memory import InMemoryBus

__all__ = [
    "DIRECT_REPLY_TO",
    "DLQ_QUEUE",
    "DLX_EXCHANGE",
    "H_DELIVERY_ATTEMPT",
    "H_DL_EXCHANGE",
    "H_DL_QUEUE",
    "H_DL_REASON",
    "H_DL_ROUTING_KEY",
    "AmqpBus",
    "Bus",
    "BusClosedError",
    "BusError",
    "ConnectionLostError",
    "Consumer",
    "Delivery",
    "ExchangeKind",
    "ExclusiveConsumerError",
    "Handler",
    "InMemoryBus",
    "MessageTooLargeError",
    "NotFoundError",
    "OutMessage",
    "PreconditionError",
    "QueueSpec",
    "QueueStats",
    "RequestTimeout",
    "UnroutableError",
    "WatchesConnection",
    "ack_all",
    "decoded_as",
    "union_members",
]
