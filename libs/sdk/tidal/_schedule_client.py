"""The schedule calls of `tidal.client` (temporalio.client's `Client.create_schedule`,
`get_schedule_handle`, `list_schedules` and `ScheduleHandle`), over the frontend's
`/api/v1/namespaces/{ns}/schedules` routes (docs/schedules.md)."""

from __future__ import annotations

import inspect
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping, Sequence
from typing import TYPE_CHECKING, Any

import httpx

from ._call_options import http_options
from ._schedule_inputs import (
    BackfillScheduleInput,
    CreateScheduleInput,
    DeleteScheduleInput,
    DescribeScheduleInput,
    PauseScheduleInput,
    TriggerScheduleInput,
    UnpauseScheduleInput,
    UpdateScheduleInput,
)
from ._schedule_list import ScheduleListDescription
from ._schedules import (
    ScheduleAlreadyRunningError,
    ScheduleBackfill,
    ScheduleDescription,
    ScheduleOverlapPolicy,
    ScheduleUpdate,
    ScheduleUpdateInput,
)
from ._search_attributes import TypedSearchAttributes
from ._visibility import encode_search_attributes
from .exceptions import RPCError

if TYPE_CHECKING:
    from .client import Client

__all__ = ["ScheduleAsyncIterator", "ScheduleHandle", "create_schedule"]


def _path(client: Client, schedule_id: str | None = None, suffix: str = "") -> str:
    base = f"/api/v1/namespaces/{client.namespace}/schedules"
    if schedule_id is None:
        return base
    return f"{base}/{httpx.URL(path=schedule_id).raw_path.decode()}{suffix}"


def _opts(input: Any) -> dict[str, Any]:
    return http_options(input.rpc_metadata, input.rpc_timeout)


async def create_schedule(client: Client, input: CreateScheduleInput) -> ScheduleHandle:
    body = await input.schedule.to_wire(client.data_converter)
    body.update(schedule_id=input.id, request_id=str(uuid.uuid4()), identity=client.identity)
    if input.memo:
        encoded = await client.data_converter.encode(list(input.memo.values()))
        body["memo"] = {k: p.model_dump(mode="json") for k, p in zip(input.memo, encoded, strict=True)}
    if input.search_attributes:
        # The schedule's own, as temporalio; the runs it starts get the action's.
        body["search_attributes"] = _encoded(input.search_attributes)
    try:
        await client._call("POST", _path(client), json=body, **_opts(input))
    except RPCError as exc:
        if exc.status == "schedule_already_exists":
            raise ScheduleAlreadyRunningError() from exc
        raise
    handle = ScheduleHandle(client, input.id)
    if input.trigger_immediately:
        await handle.trigger()
    if input.backfill:
        await handle.backfill(*input.backfill)
    return handle


def _encoded(attributes: TypedSearchAttributes | Mapping[str, Any]) -> dict[str, Any]:
    if isinstance(attributes, TypedSearchAttributes):
        return attributes.to_json()
    return encode_search_attributes(attributes)


async def describe(client: Client, input: DescribeScheduleInput) -> ScheduleDescription:
    wire = await client._call("GET", _path(client, input.id), **_opts(input))
    return await ScheduleDescription.from_wire(wire, client.data_converter)


async def pause(client: Client, input: PauseScheduleInput) -> None:
    body = {"note": input.note or "Paused via Python SDK", "identity": client.identity}
    await client._call("POST", _path(client, input.id, "/pause"), json=body, **_opts(input))


async def unpause(client: Client, input: UnpauseScheduleInput) -> None:
    body = {"note": input.note or "Unpaused via Python SDK", "identity": client.identity}
    await client._call("POST", _path(client, input.id, "/unpause"), json=body, **_opts(input))


async def trigger(client: Client, input: TriggerScheduleInput) -> None:
    body = {
        "overlap": input.overlap.to_wire() if input.overlap is not None else None,
        "request_id": str(uuid.uuid4()),
        "identity": client.identity,
    }
    await client._call("POST", _path(client, input.id, "/trigger"), json=body, **_opts(input))


async def backfill(client: Client, input: BackfillScheduleInput) -> None:
    if not input.backfills:
        raise ValueError("at least one backfill required")
    body = {
        "backfills": [b.to_wire() for b in input.backfills],
        "request_id": str(uuid.uuid4()),
        "identity": client.identity,
    }
    await client._call("POST", _path(client, input.id, "/backfill"), json=body, **_opts(input))


async def update(client: Client, input: UpdateScheduleInput) -> None:
    """Read, let the updater change it, write back; a concurrent change in between is refused
    by the server (RPCError with status `conflict`, HTTP 412), as Temporal's conflict token."""
    description = await client.get_schedule_handle(input.id).describe()
    change = input.updater(ScheduleUpdateInput(description=description))
    if inspect.isawaitable(change):
        change = await change
    if change is None:
        return
    body = await change.schedule.to_wire(client.data_converter)
    if change.search_attributes is not None:
        body["search_attributes"] = _encoded(change.search_attributes)
    body.update(conflict_token=description.raw_description["conflict_token"], identity=client.identity)
    await client._call("POST", _path(client, input.id, "/update"), json=body, **_opts(input))


async def delete(client: Client, input: DeleteScheduleInput) -> None:
    await client._call("DELETE", _path(client, input.id), **_opts(input))


class ScheduleHandle:
    """A schedule by id: `client.get_schedule_handle("id")` or what `create_schedule` returns.
    Every call goes through the client's interceptors."""

    def __init__(self, client: Client, id: str) -> None:
        self._client = client
        self.id = id

    async def describe(self) -> ScheduleDescription:
        return await self._client._impl.describe_schedule(DescribeScheduleInput(self.id, {}, None))

    async def pause(self, *, note: str | None = None) -> None:
        await self._client._impl.pause_schedule(PauseScheduleInput(self.id, note, {}, None))

    async def unpause(self, *, note: str | None = None) -> None:
        await self._client._impl.unpause_schedule(UnpauseScheduleInput(self.id, note, {}, None))

    async def trigger(self, *, overlap: ScheduleOverlapPolicy | None = None) -> None:
        await self._client._impl.trigger_schedule(TriggerScheduleInput(self.id, overlap, {}, None))

    async def backfill(self, *backfill: ScheduleBackfill) -> None:
        if not backfill:
            raise ValueError("at least one backfill required")
        await self._client._impl.backfill_schedule(BackfillScheduleInput(self.id, backfill, {}, None))

    async def update(
        self,
        updater: Callable[[ScheduleUpdateInput], ScheduleUpdate | Awaitable[ScheduleUpdate | None] | None],
    ) -> None:
        """Read, let `updater` change it, write back; a concurrent change in between is refused
        by the server (RPCError with status `conflict`, HTTP 412), as Temporal's conflict token."""
        await self._client._impl.update_schedule(UpdateScheduleInput(self.id, updater, {}, None))

    async def delete(self) -> None:
        await self._client._impl.delete_schedule(DeleteScheduleInput(self.id, {}, None))


class ScheduleAsyncIterator:
    """`async for s in client.list_schedules(query)`: the namespace's schedules (those matching
    `query`), by id, paged."""

    def __init__(
        self,
        client: Client,
        *,
        page_size: int = 1000,
        next_page_token: bytes | None = None,
        query: str | None = None,
    ) -> None:
        self._client = client
        self._query = query or ""
        self._page_size = min(max(page_size, 1), 1000)
        self._token = next_page_token.decode() if next_page_token else None
        self._iter: AsyncIterator[ScheduleListDescription] | None = None

    @property
    def current_page_index(self) -> int:
        return 0

    @property
    def current_page(self) -> Sequence[ScheduleListDescription] | None:
        return None

    @property
    def next_page_token(self) -> bytes | None:
        return self._token.encode() if self._token else None

    async def fetch_next_page(self, *, page_size: int | None = None) -> None:
        del page_size

    def __aiter__(self) -> ScheduleAsyncIterator:
        return self

    async def __anext__(self) -> ScheduleListDescription:
        if self._iter is None:
            self._iter = self._pages()
        return await anext(self._iter)

    async def _pages(self) -> AsyncIterator[ScheduleListDescription]:
        token = self._token
        while True:
            params: dict[str, Any] = {"page_size": self._page_size}
            if self._query:
                params["query"] = self._query
            if token:
                params["next_page_token"] = token
            page = await self._client._call("GET", _path(self._client), params=params)
            for entry in page["schedules"]:
                yield ScheduleListDescription.from_wire(entry, self._client.data_converter)
            token = page.get("next_page_token")
            self._token = token
            if not token:
                return
