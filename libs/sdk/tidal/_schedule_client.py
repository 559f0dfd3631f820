"""The schedule calls of `tidal.client` (temporalio.client's `Client.create_schedule`,
`get_schedule_handle`, `list_schedules` and `ScheduleHandle`), over the frontend's
`/api/v1/namespaces/{ns}/schedules` routes (docs/schedules.md)."""

from __future__ import annotations

import inspect
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping, Sequence
from typing import TYPE_CHECKING, Any

import httpx

from ._schedule_list import ScheduleListDescription
from ._schedules import (
    Schedule,
    ScheduleAlreadyRunningError,
    ScheduleBackfill,
    ScheduleDescription,
    ScheduleOverlapPolicy,
    ScheduleUpdate,
    ScheduleUpdateInput,
)
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


async def create_schedule(
    client: Client,
    id: str,
    schedule: Schedule,
    *,
    trigger_immediately: bool = False,
    backfill: Sequence[ScheduleBackfill] = (),
    memo: Mapping[str, Any] | None = None,
    search_attributes: Mapping[str, Any] | None = None,
) -> ScheduleHandle:
    body = await schedule.to_wire(client.data_converter)
    body.update(schedule_id=id, request_id=str(uuid.uuid4()), identity=client.identity)
    if memo:
        encoded = await client.data_converter.encode(list(memo.values()))
        body["memo"] = {k: p.model_dump(mode="json") for k, p in zip(memo, encoded, strict=True)}
    if search_attributes:
        # Schedules have no search attributes of their own yet: they go to the runs it starts.
        body["action"]["search_attributes"] = {
            **body["action"]["search_attributes"],
            **encode_search_attributes(search_attributes),
        }
    try:
        await client._call("POST", _path(client), json=body)
    except RPCError as exc:
        if exc.status == "schedule_already_exists":
            raise ScheduleAlreadyRunningError() from exc
        raise
    handle = ScheduleHandle(client, id)
    if trigger_immediately:
        await handle.trigger()
    if backfill:
        await handle.backfill(*backfill)
    return handle


class ScheduleHandle:
    """A schedule by id: `client.get_schedule_handle("id")` or what `create_schedule` returns."""

    def __init__(self, client: Client, id: str) -> None:
        self._client = client
        self.id = id

    async def describe(self) -> ScheduleDescription:
        wire = await self._client._call("GET", _path(self._client, self.id))
        return await ScheduleDescription.from_wire(wire, self._client.data_converter)

    async def pause(self, *, note: str | None = None) -> None:
        body = {"note": note or "Paused via Python SDK", "identity": self._client.identity}
        await self._client._call("POST", _path(self._client, self.id, "/pause"), json=body)

    async def unpause(self, *, note: str | None = None) -> None:
        body = {"note": note or "Unpaused via Python SDK", "identity": self._client.identity}
        await self._client._call("POST", _path(self._client, self.id, "/unpause"), json=body)

    async def trigger(self, *, overlap: ScheduleOverlapPolicy | None = None) -> None:
        body = {
            "overlap": overlap.to_wire() if overlap is not None else None,
            "request_id": str(uuid.uuid4()),
            "identity": self._client.identity,
        }
        await self._client._call("POST", _path(self._client, self.id, "/trigger"), json=body)

    async def backfill(self, *backfill: ScheduleBackfill) -> None:
        if not backfill:
            raise ValueError("at least one backfill required")
        body = {
            "backfills": [b.to_wire() for b in backfill],
            "request_id": str(uuid.uuid4()),
            "identity": self._client.identity,
        }
        await self._client._call("POST", _path(self._client, self.id, "/backfill"), json=body)

    async def update(
        self,
        updater: Callable[[ScheduleUpdateInput], ScheduleUpdate | Awaitable[ScheduleUpdate | None] | None],
    ) -> None:
        """Read, let `updater` change it, write back; a concurrent change in between is refused
        by the server (RPCError with status `conflict`, HTTP 412), as Temporal's conflict token."""
        description = await self.describe()
        update = updater(ScheduleUpdateInput(description=description))
        if inspect.isawaitable(update):
            update = await update
        if update is None:
            return
        body = await update.schedule.to_wire(self._client.data_converter)
        if update.search_attributes:
            body["action"]["search_attributes"] = {
                **body["action"]["search_attributes"],
                **encode_search_attributes(update.search_attributes),
            }
        body.update(
            conflict_token=description.raw_description["conflict_token"], identity=self._client.identity
        )
        await self._client._call("POST", _path(self._client, self.id, "/update"), json=body)

    async def delete(self) -> None:
        await self._client._call("DELETE", _path(self._client, self.id))


class ScheduleAsyncIterator:
    """`async for s in client.list_schedules()`: every schedule of the namespace, by id, paged."""

    def __init__(
        self, client: Client, *, page_size: int = 1000, next_page_token: bytes | None = None
    ) -> None:
        self._client = client
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
            if token:
                params["next_page_token"] = token
            page = await self._client._call("GET", _path(self._client), params=params)
            for entry in page["schedules"]:
                yield ScheduleListDescription.from_wire(entry, self._client.data_converter)
            token = page.get("next_page_token")
            self._token = token
            if not token:
                return
