"""Async activity completion (mirrors temporalio.client.AsyncActivityHandle): an activity that
called `activity.raise_complete_async()` is finished later by whoever holds its task token.
Every call goes through the client's interceptors (`*AsyncActivityInput`, temporalio's)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import timedelta
from typing import TYPE_CHECKING, Any, Self

from tidal_schema.task_token import ActivityTaskToken

from ._call_options import http_options
from ._serialization_context import SerializationContext
from .converter import DataConverter
from .exceptions import TidalError, error_to_failure

if TYPE_CHECKING:
    from ._client import Client

__all__ = [
    "AsyncActivityCancelledError",
    "AsyncActivityHandle",
    "CompleteAsyncActivityInput",
    "FailAsyncActivityInput",
    "HeartbeatAsyncActivityInput",
    "ReportCancellationAsyncActivityInput",
    "complete",
    "fail",
    "heartbeat",
    "report_cancellation",
]

RpcMetadata = Mapping[str, str | bytes]


class AsyncActivityCancelledError(TidalError):
    """`AsyncActivityHandle.heartbeat()`: the workflow asked to cancel the activity (report it
    with `report_cancellation()`)."""


# Mutable, as temporalio's inputs: an interceptor changes a call by assigning a field.
@dataclass
class HeartbeatAsyncActivityInput:
    """`AsyncActivityHandle.heartbeat`. `id_or_token` is the task token (Tidal takes no ids)."""

    id_or_token: bytes
    details: Sequence[Any]
    rpc_metadata: RpcMetadata
    rpc_timeout: timedelta | None
    data_converter_override: DataConverter | None = None


@dataclass
class CompleteAsyncActivityInput:
    """`AsyncActivityHandle.complete`."""

    id_or_token: bytes
    result: Any | None
    rpc_metadata: RpcMetadata
    rpc_timeout: timedelta | None
    data_converter_override: DataConverter | None = None


@dataclass
class FailAsyncActivityInput:
    """`AsyncActivityHandle.fail`."""

    id_or_token: bytes
    error: Exception
    last_heartbeat_details: Sequence[Any]
    rpc_metadata: RpcMetadata
    rpc_timeout: timedelta | None
    data_converter_override: DataConverter | None = None


@dataclass
class ReportCancellationAsyncActivityInput:
    """`AsyncActivityHandle.report_cancellation`."""

    id_or_token: bytes
    details: Sequence[Any]
    rpc_metadata: RpcMetadata
    rpc_timeout: timedelta | None
    data_converter_override: DataConverter | None = None


class AsyncActivityHandle:
    """Complete, fail, heartbeat or report the cancellation of one activity attempt. Calls on an
    attempt that is no longer current raise `RPCError` with status `not_found`."""

    def __init__(
        self, client: Client, id_or_token: bytes, *, data_converter_override: DataConverter | None = None
    ) -> None:
        ActivityTaskToken.decode(id_or_token)  # a malformed token fails here, not at the first call
        self._client = client
        self._id_or_token = id_or_token
        self._data_converter_override = data_converter_override

    @property
    def task_token(self) -> bytes:
        return self._id_or_token

    def with_context(self, context: SerializationContext) -> Self:
        """A handle whose payloads go through the data converter with `context` (as
        temporalio's): give it the attempt's `ActivitySerializationContext` so that a
        context-aware converter or codec encodes what this handle sends as the worker would
        (self when no part of the converter uses the context)."""
        base = self._data_converter_override or self._client.data_converter
        converter = base.with_context(context)
        if converter is base:
            return self
        if type(self).__init__ is not AsyncActivityHandle.__init__:
            raise TypeError(
                "a subclass of AsyncActivityHandle with its own __init__ must override with_context"
            )
        return type(self)(self._client, self._id_or_token, data_converter_override=converter)

    async def complete(self, result: Any = None) -> None:
        await self._client._impl.complete_async_activity(
            CompleteAsyncActivityInput(self._id_or_token, result, {}, None, self._data_converter_override)
        )

    async def fail(self, error: Exception, *, last_heartbeat_details: Sequence[Any] = ()) -> None:
        await self._client._impl.fail_async_activity(
            FailAsyncActivityInput(
                self._id_or_token, error, last_heartbeat_details, {}, None, self._data_converter_override
            )
        )

    async def heartbeat(self, *details: Any) -> None:
        await self._client._impl.heartbeat_async_activity(
            HeartbeatAsyncActivityInput(self._id_or_token, details, {}, None, self._data_converter_override)
        )

    async def report_cancellation(self, *details: Any) -> None:
        await self._client._impl.report_cancellation_async_activity(
            ReportCancellationAsyncActivityInput(
                self._id_or_token, details, {}, None, self._data_converter_override
            )
        )


# --- the HTTP calls (the innermost interceptor's) ---------------------------------------------


def _path(token: bytes, op: str) -> str:
    return f"/api/v1/namespaces/{ActivityTaskToken.decode(token).namespace}/activities/{op}"


async def _post(client: Client, call: Any, op: str, **body: Any) -> dict[str, Any]:
    """`call` is the *AsyncActivityInput (its token, rpc_metadata and rpc_timeout)."""
    payload = {"task_token": call.id_or_token.decode("ascii"), "identity": client.identity, **body}
    opts = http_options(call.rpc_metadata, call.rpc_timeout)
    return await client._call("POST", _path(call.id_or_token, op), json=payload, **opts)


async def _payloads(converter: DataConverter, values: Sequence[Any]) -> list[dict[str, Any]]:
    return [p.model_dump(mode="json") for p in await converter.encode(list(values))]


async def complete(client: Client, input: CompleteAsyncActivityInput) -> None:
    converter = input.data_converter_override or client.data_converter
    await _post(client, input, "complete", input=await _payloads(converter, [input.result]))


async def fail(client: Client, input: FailAsyncActivityInput) -> None:
    converter = input.data_converter_override or client.data_converter
    failure = await converter.encode_model(error_to_failure(input.error))
    await _post(client, input, "fail", failure=failure.model_dump(mode="json"))


async def heartbeat(client: Client, input: HeartbeatAsyncActivityInput) -> None:
    converter = input.data_converter_override or client.data_converter
    reply = await _post(client, input, "heartbeat", input=await _payloads(converter, input.details))
    if reply.get("cancel_requested"):
        raise AsyncActivityCancelledError("the workflow asked to cancel this activity")


async def report_cancellation(client: Client, input: ReportCancellationAsyncActivityInput) -> None:
    converter = input.data_converter_override or client.data_converter
    await _post(client, input, "cancel", input=await _payloads(converter, input.details))
