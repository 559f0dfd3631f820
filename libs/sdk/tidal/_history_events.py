"""A run's history as an async iterator of events (temporalio.client's
`WorkflowHistoryEventAsyncIterator`, what `WorkflowHandle.fetch_history_events` returns;
re-exported by `tidal.client`), paged from `GET .../workflows/{id}/history`.

`event_filter_type=CLOSE_EVENT` yields only the run's closing event; with `wait_new_event` it
first waits for the run to close through the result long-poll (which wakes on the server's
close notification), as Temporal's long-poll for the close event does.
"""

from __future__ import annotations

from collections.abc import Sequence
from enum import IntEnum
from typing import TYPE_CHECKING, Any

from tidal_schema import HistoryEvent, WorkflowExecutionStatus

if TYPE_CHECKING:
    from ._client import Client
    from ._client_inputs import FetchWorkflowHistoryEventsInput

__all__ = ["WorkflowHistoryEventAsyncIterator", "WorkflowHistoryEventFilterType"]

_PAGE = 1000  # the frontend's largest page
_WAIT_SECONDS = 30.0
_CLOSE_EVENTS = frozenset(
    {
        "WorkflowExecutionCompleted",
        "WorkflowExecutionFailed",
        "WorkflowExecutionTimedOut",
        "WorkflowExecutionCanceled",
        "WorkflowExecutionTerminated",
        "WorkflowExecutionContinuedAsNew",
    }
)


class WorkflowHistoryEventFilterType(IntEnum):
    """Which events `fetch_history_events` yields (Temporal's numbers)."""

    ALL_EVENT = 1
    CLOSE_EVENT = 2


class WorkflowHistoryEventAsyncIterator:
    """`async for event in handle.fetch_history_events()`: fetches a page at a time.
    `next_page_token` is where the next page starts (None once the last one was fetched)."""

    def __init__(self, client: Client, input: FetchWorkflowHistoryEventsInput) -> None:
        if input.wait_new_event and input.event_filter_type is WorkflowHistoryEventFilterType.ALL_EVENT:
            raise ValueError(
                "wait_new_event is supported with event_filter_type=CLOSE_EVENT only (Tidal has no "
                "long-poll for every new event yet)"
            )
        self._client = client
        self._input = input
        self._next_page_token = input.next_page_token
        self._current_page: Sequence[HistoryEvent] | None = None
        self._current_page_index = 0
        self._done = False
        # The run the server answered for (the current one when the input names none).
        self.run_id: str | None = input.run_id

    @property
    def current_page_index(self) -> int:
        return self._current_page_index

    @property
    def current_page(self) -> Sequence[HistoryEvent] | None:
        return self._current_page

    @property
    def next_page_token(self) -> bytes | None:
        return self._next_page_token

    async def fetch_next_page(self, *, page_size: int | None = None) -> None:
        c, inp = self._client, self._input
        if inp.event_filter_type is WorkflowHistoryEventFilterType.CLOSE_EVENT and inp.wait_new_event:
            await self._wait_closed()
        params: dict[str, Any] = {"page_size": min(page_size or inp.page_size or _PAGE, _PAGE)}
        if inp.run_id:
            params["run_id"] = inp.run_id
        if self._next_page_token:
            params["next_page_token"] = self._next_page_token.decode()
        data = await c._call("GET", c._wf_path(inp.id, "/history"), params=params)
        events = [HistoryEvent.model_validate(e) for e in data["events"]]
        self.run_id = data.get("run_id") or self.run_id
        token = data.get("next_page_token")
        self._next_page_token = str(token).encode() if token else None
        if inp.event_filter_type is WorkflowHistoryEventFilterType.CLOSE_EVENT:
            events = [e for e in events if e.attributes.type in _CLOSE_EVENTS]
        self._current_page = events
        self._current_page_index = 0
        self._done = self._next_page_token is None

    async def _wait_closed(self) -> None:
        c, inp = self._client, self._input
        while True:
            params: dict[str, Any] = {"wait": _WAIT_SECONDS}
            if inp.run_id:
                params["run_id"] = inp.run_id
            data = await c._call("GET", c._wf_path(inp.id, "/result"), params=params)
            if WorkflowExecutionStatus(data["status"]) is not WorkflowExecutionStatus.RUNNING:
                return

    def __aiter__(self) -> WorkflowHistoryEventAsyncIterator:
        return self

    async def __anext__(self) -> HistoryEvent:
        while self._current_page is None or self._current_page_index >= len(self._current_page):
            if self._current_page is not None and self._done:
                raise StopAsyncIteration
            await self.fetch_next_page()
        event = self._current_page[self._current_page_index]
        self._current_page_index += 1
        return event
