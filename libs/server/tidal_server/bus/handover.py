"""The validated message itself, for a consumer in the publisher's process (the embedded mode).

On the in-memory bus a message's publisher and consumer share one process, and the consumer
decoded and validated again the JSON the publisher had just encoded from a validated model:
pydantic's decode was about a tenth of the embedded burst's CPU (docs/performance.md,
"Embedded mode"). A publisher that built the model passes it as `OutMessage.decoded` beside
the bytes; `decoded_as` hands it to a consumer instead of the decode, when it is safe:

- only the in-memory bus delivers it (`AmqpBus` ignores the field: bytes cross processes);
- only to one queue's consumer, and only on the first delivery: a message routed to several
  queues, or redelivered after a nack or a consumer's end, is read from its bytes, so no
  consumer ever sees an object another consumer has held;
- only a frozen schema model of one of the types the consumer would have validated into
  (what the decode would have produced: the same class, validated when it was built);
- never to user code: the SDK's workers read their tasks from the bytes, because the payloads
  inside hold JSON values by reference (a workflow mutating its input dict would reach
  history's cached events); consumers here are Tidal's own services, which never mutate a
  message.

Anything that is not such a model (a hostile message published as bytes, a row relayed from
the outbox after a restart, a dead-lettered copy) takes the bytes path as before, with the
same validation and the same dead-lettering on failure.
"""

from __future__ import annotations

from typing import Any, TypeVar, get_args

from pydantic import BaseModel

__all__ = ["decoded_as", "union_members"]

T = TypeVar("T")


def union_members(annotated: Any) -> tuple[type[BaseModel], ...]:
    """The model classes of a discriminated union (`Annotated[A | B, Field(...)]`) or a class."""
    if isinstance(annotated, type):
        return (annotated,)
    union = get_args(annotated)[0] if get_args(annotated) else annotated
    members = get_args(union) or (union,)
    return tuple(m for m in members if isinstance(m, type) and issubclass(m, BaseModel))


def decoded_as(delivery: object, kinds: tuple[type[BaseModel], ...]) -> Any:
    """The delivery's validated model if the bus handed one over and it is one of `kinds` and
    frozen; None: decode the body."""
    model = getattr(delivery, "decoded", None)
    if model is None or not isinstance(model, kinds) or not model.model_config.get("frozen"):
        return None
    return model
