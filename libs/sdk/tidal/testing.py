"""Test environments. `WorkflowEnvironment.start_local()` runs a whole Tidal server in this
process (in-memory bus, SQLite), like temporalio's `start_local()` runs a dev server.
`WorkflowEnvironment.start_time_skipping()` does the same on a clock that jumps to the next
durable timer whenever the server is idle and someone waits: in `handle.result()` or
`env.sleep()`. A workflow that sleeps for a month finishes in milliseconds.

It needs the server packages installed (`tidal-server` and the four services); they are imported
lazily so the SDK itself never depends on server code.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx

from .client import Client
from .converter import DataConverter

__all__ = [
    "WorkflowEnvironment",
]


class WorkflowEnvironment:
    def __init__(self, *, client: Client, server: Any = None) -> None:
        self.client = client
        self._server = server  # None: the server is someone else's (`from_client`)

    @staticmethod
    def from_client(client: Client) -> WorkflowEnvironment:
        """An environment on a server that is already running (a test suite written against a
        deployed Tidal), as temporalio's. `shutdown()` leaves both the server and the client
        alone: they belong to the caller. No time skipping."""
        return WorkflowEnvironment(client=client)

    @staticmethod
    async def start_local(
        *,
        namespace: str = "default",
        data_converter: DataConverter = DataConverter.default,
        shard_count: int = 4,
        database_path: str | None = None,
    ) -> WorkflowEnvironment:
        server = await _start_server(shard_count=shard_count, database_path=database_path, clock=None)
        return WorkflowEnvironment(client=_client(server, namespace, data_converter), server=server)

    @staticmethod
    async def start_time_skipping(
        *,
        namespace: str = "default",
        data_converter: DataConverter = DataConverter.default,
        shard_count: int = 4,
    ) -> WorkflowEnvironment:
        """Like `start_local()`, but durable timers (sleeps, timeouts, retry backoff) do not make
        anyone wait: while a test awaits `handle.result()` or `env.sleep()` and the server is
        idle, the clock jumps to the next timer. Activities still run in real time."""
        from tidal_server.clock import SkippingClock

        clock = SkippingClock()
        server = await _start_server(shard_count=shard_count, database_path=None, clock=clock)
        env = _TimeSkippingEnvironment(
            client=_client(server, namespace, data_converter), server=server, clock=clock
        )
        env.client._result_wait_hook = env._skipping
        return env

    @property
    def supports_time_skipping(self) -> bool:
        return False

    async def get_current_time(self) -> datetime:
        return datetime.now(UTC)

    async def sleep(self, duration: timedelta | float) -> None:
        await asyncio.sleep(duration.total_seconds() if isinstance(duration, timedelta) else duration)

    @property
    def server(self) -> Any:
        return self._server

    async def shutdown(self) -> None:
        if self._server is None:
            return
        await self.client.close()
        await self._server.stop()

    async def __aenter__(self) -> WorkflowEnvironment:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.shutdown()


class _TimeSkippingEnvironment(WorkflowEnvironment):
    # How long (real seconds) the server must look idle before time jumps: work that is about
    # to start (a task just published) gets a few loop turns to show up first.
    _QUIET_SECONDS = 0.02
    _POLL_SECONDS = 0.005

    def __init__(self, *, client: Client, server: Any, clock: Any) -> None:
        super().__init__(client=client, server=server)
        self._clock = clock
        self._waiters = 0
        self._skipper: asyncio.Task[None] | None = None

    @property
    def supports_time_skipping(self) -> bool:
        return True

    async def get_current_time(self) -> datetime:
        now: datetime = self._clock.now()
        return now

    async def sleep(self, duration: timedelta | float) -> None:
        """Move the server's time forward by `duration`, firing every timer due on the way (each
        one after the server has finished reacting to the previous)."""
        seconds = duration.total_seconds() if isinstance(duration, timedelta) else float(duration)
        target = self._clock.now() + timedelta(seconds=seconds)
        while True:
            await self._until_quiet()
            due = await self._server.next_timer_due()
            if due is None or due > target:
                self._clock.skip_to(target)
                await self._until_quiet()
                return
            self._clock.skip_to(due)
            await self._until_fired(due)

    @contextlib.asynccontextmanager
    async def _skipping(self) -> AsyncIterator[None]:
        self._waiters += 1
        if self._skipper is None or self._skipper.done():
            self._skipper = asyncio.create_task(self._skip_loop(), name="tidal-time-skipping")
        try:
            yield
        finally:
            self._waiters -= 1
            if self._waiters == 0 and self._skipper is not None:
                self._skipper.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await self._skipper
                self._skipper = None

    async def _skip_loop(self) -> None:
        while True:
            await self._until_quiet()
            due = await self._server.next_timer_due()
            if due is not None and due > self._clock.now() and not self._server.busy():
                self._clock.skip_to(due)
                await self._until_fired(due)
            else:
                await asyncio.sleep(self._POLL_SECONDS)

    async def _until_quiet(self) -> None:
        quiet_since: float | None = None
        loop = asyncio.get_running_loop()
        while True:
            if self._server.busy():
                quiet_since = None
            elif quiet_since is None:
                quiet_since = loop.time()
            elif loop.time() - quiet_since >= self._QUIET_SECONDS:
                return
            await asyncio.sleep(self._POLL_SECONDS)

    async def _until_fired(self, due: datetime) -> None:
        # The timer service wakes from the jump, fires, and history deletes the row: wait until
        # the earliest timer is a later one (or gone) so the next jump does not overtake it.
        while True:
            await self._until_quiet()
            nxt = await self._server.next_timer_due()
            if nxt is None or nxt > due:
                return
            await asyncio.sleep(self._POLL_SECONDS)

    async def shutdown(self) -> None:
        if self._skipper is not None:
            self._skipper.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._skipper
        await super().shutdown()


async def _start_server(*, shard_count: int, database_path: str | None, clock: Any) -> Any:
    try:
        from tidal_server.embedded import EmbeddedServer
    except ImportError as exc:  # pragma: no cover - depends on the installation
        raise RuntimeError(
            "WorkflowEnvironment needs the Tidal server packages: "
            "`pip install tidal-server tidal-history tidal-matching tidal-timer tidal-frontend`"
        ) from exc
    server = EmbeddedServer(shard_count=shard_count, database_path=database_path, clock=clock)
    await server.start()
    return server


def _client(server: Any, namespace: str, data_converter: DataConverter) -> Client:
    http = httpx.AsyncClient(
        transport=httpx.ASGITransport(app=server.asgi_app), base_url="http://tidal.embedded", timeout=90.0
    )
    return Client(
        http=http,
        namespace=namespace,
        data_converter=data_converter,
        worker_transport=server.worker_transport,
    )
