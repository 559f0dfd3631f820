"""`PayloadCodec` (temporalio.converter's; re-exported by `tidal.converter`): transforms payloads
where they leave (`encode`) and enter (`decode`) the SDK: compression, encryption...

Tidal's schema objects are immutable, so the wrapper and failure helpers return the transformed
value instead of replacing the contents of their argument.
"""

from __future__ import annotations

import abc
from collections.abc import Awaitable, Callable, Sequence
from typing import Any, TypeVar

from pydantic import BaseModel
from tidal_schema import Failure, Payload

__all__ = ["PayloadCodec"]

T = TypeVar("T")


class PayloadCodec(abc.ABC):
    """`decode` must pass payloads it did not encode through unchanged (a plain payload may come
    from the HTTP API or a command)."""

    @abc.abstractmethod
    async def encode(self, payloads: Sequence[Payload]) -> list[Payload]: ...

    @abc.abstractmethod
    async def decode(self, payloads: Sequence[Payload]) -> list[Payload]: ...

    async def encode_wrapper(self, payloads: Sequence[Payload]) -> list[Payload]:
        return await self.encode(payloads) if payloads else []

    async def decode_wrapper(self, payloads: Sequence[Payload]) -> list[Payload]:
        return await self.decode(payloads) if payloads else []

    async def encode_failure(self, failure: Failure) -> Failure:
        """`failure` with every payload in it (details, encoded attributes, causes) encoded."""
        return await map_payloads(failure, self.encode)

    async def decode_failure(self, failure: Failure) -> Failure:
        return await map_payloads(failure, self.decode)


_Transform = Callable[[Sequence[Payload]], Awaitable[list[Payload]]]


async def map_payloads(value: T, fn: _Transform) -> T:
    """Rebuild `value` with `fn` applied to every Payload in it (pydantic models, tuples, lists
    and dicts are walked; a sequence of payloads goes to `fn` in one call). Unchanged parts are
    returned as they are, so messages without payloads cost one walk and no copies."""
    out: Any
    if isinstance(value, Payload):
        out = (await fn([value]))[0]
    elif isinstance(value, BaseModel):
        updates: dict[str, Any] = {}
        for name in type(value).model_fields:
            old = getattr(value, name)
            new = await map_payloads(old, fn)
            if new is not old:
                updates[name] = new
        out = value.model_copy(update=updates) if updates else value
    elif isinstance(value, tuple | list) and value:
        if all(isinstance(v, Payload) for v in value):
            out = type(value)(await fn(value))
        else:
            items = [await map_payloads(v, fn) for v in value]
            changed = any(a is not b for a, b in zip(items, value, strict=True))
            out = type(value)(items) if changed else value
    elif isinstance(value, dict) and value:
        mapped = {k: await map_payloads(v, fn) for k, v in value.items()}
        out = mapped if any(mapped[k] is not v for k, v in value.items()) else value
    else:
        out = value
    return out  # type: ignore[no-any-return]


def map_failures(value: T, fn: Callable[[Failure], Failure]) -> T:
    """Rebuild `value` with `fn` applied to every outermost Failure in it (`fn` handles causes)."""
    out: Any
    if isinstance(value, Failure):
        out = fn(value)
    elif isinstance(value, BaseModel):
        changes: dict[str, Any] = {}
        for name in type(value).model_fields:
            old = getattr(value, name)
            new = map_failures(old, fn)
            if new is not old:
                changes[name] = new
        out = value.model_copy(update=changes) if changes else value
    elif isinstance(value, tuple | list) and value:
        items = [map_failures(v, fn) for v in value]
        changed = any(a is not b for a, b in zip(items, value, strict=True))
        out = type(value)(items) if changed else value
    elif isinstance(value, dict) and value:
        mapped = {k: map_failures(v, fn) for k, v in value.items()}
        out = mapped if any(mapped[k] is not v for k, v in value.items()) else value
    else:
        out = value
    return out  # type: ignore[no-any-return]
