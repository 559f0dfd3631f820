"""Async activity completion (mirrors temporalio.client.AsyncActivityHandle): an activity that
called `activity.raise_complete_async()` is finished later by whoever holds its task token."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from typing import Any

from tidal_schema.task_token import ActivityTaskToken

from .converter import DataConverter
from .exceptions import TidalError, error_to_failure

Call = Callable[..., Awaitable[dict[str, Any]]]


class AsyncActivityCancelledError(TidalError):
    """`AsyncActivityHandle.heartbeat()`: the workflow asked to cancel the activity (report it
    with `report_cancellation()`)."""


class AsyncActivityHandle:
    """Complete, fail, heartbeat or report the cancellation of one activity attempt. Calls on an
    attempt that is no longer current raise `RPCError` with status `not_found`."""

    def __init__(self, *, call: Call, converter: DataConverter, identity: str, task_token: bytes) -> None:
        self._call = call
        self._conv = converter
        self._identity = identity
        self.task_token = task_token
        self._token = ActivityTaskToken.decode(task_token)

    def _path(self, op: str) -> str:
        return f"/api/v1/namespaces/{self._token.namespace}/activities/{op}"

    def _body(self, **extra: Any) -> dict[str, Any]:
        return {"task_token": self.task_token.decode("ascii"), "identity": self._identity, **extra}

    async def _payloads(self, values: Sequence[Any]) -> list[dict[str, Any]]:
        return [p.model_dump(mode="json") for p in await self._conv.encode(list(values))]

    async def complete(self, result: Any = None) -> None:
        await self._call(
            "POST", self._path("complete"), json=self._body(input=await self._payloads([result]))
        )

    async def fail(self, error: Exception, *, last_heartbeat_details: Sequence[Any] = ()) -> None:
        failure = await self._conv.encode_model(error_to_failure(error))
        await self._call("POST", self._path("fail"), json=self._body(failure=failure.model_dump(mode="json")))

    async def heartbeat(self, *details: Any) -> None:
        reply = await self._call(
            "POST", self._path("heartbeat"), json=self._body(input=await self._payloads(details))
        )
        if reply.get("cancel_requested"):
            raise AsyncActivityCancelledError("the workflow asked to cancel this activity")

    async def report_cancellation(self, *details: Any) -> None:
        await self._call("POST", self._path("cancel"), json=self._body(input=await self._payloads(details)))
