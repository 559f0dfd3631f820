"""Test environments. `WorkflowEnvironment.start_local()` runs a whole Tidal server in this
process (in-memory bus, SQLite), like temporalio's `start_local()` runs a dev server.
`WorkflowEnvironment.start_time_skipping()` does the same on a clock that jumps to the next
durable timer whenever the server is idle and someone waits: in `handle.result()` or
`env.sleep()`. A workflow that sleeps for a month finishes in milliseconds.

It needs the server packages, declared as the extra `tidal[testing]` (`tidal-server` and the four
services); they are imported lazily so the SDK itself never depends on server code, and typed
here by the `EmbeddedServerLike` protocol the environment uses.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Callable, Iterator
from contextlib import AbstractAsyncContextManager
from datetime import UTC, datetime, timedelta
from typing import Any, Protocol

import httpx

from ._activity_environment import ActivityEnvironment
from ._http_transport import AiohttpTransport
from .client import Client, WorkflowHandle
from .converter import DataConverter


class EmbeddedServerLike(Protocol):
    """What the environments use of `tidal_server.embedded.EmbeddedServer` (the server packages
    are an optional extra, so the SDK names their shape rather than importing them)."""

    async def start(self) -> None: ...
    async def stop(self) -> None: ...
    @property
    def asgi_app(self) -> Any: ...
    def worker_transport(self) -> Any: ...
    def busy(self) -> bool: ...
    async def next_timer_due(self) -> datetime | None: ...


__all__ = [
    "ActivityEnvironment",
    "EmbeddedServerLike",
    "WorkflowEnvironment",
]


class WorkflowEnvironment:
    def __init__(self, *, client: Client, server: EmbeddedServerLike | None = None) -> None:
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
        return WorkflowEnvironment(
            client=_client(server, namespace=namespace, data_converter=data_converter), server=server
        )

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
        return _TimeSkippingEnvironment(
            server=server, clock=clock, namespace=namespace, data_converter=data_converter
        )

    async def connect_client(self, **kwargs: Any) -> Client:
        """Another client of this environment's server, with this client's namespace and data
        converter unless `kwargs` (`namespace`, `data_converter`, `identity`) say otherwise. On a
        time-skipping environment its result waits skip time too. The caller closes it."""
        options: dict[str, Any] = {
            "namespace": self.client.namespace,
            "data_converter": self.client.data_converter,
        }
        options.update(kwargs)
        if self._server is None:  # a server of the caller's (`from_client`): no time skipping
            return _same_server(self.client, **options)
        return _client(self._server, result_wait_hook=self.client.result_wait_hook, **options)

    @property
    def supports_time_skipping(self) -> bool:
        """Either kind of time skipping (temporalio's V1 or V2)."""
        return self.supports_time_skipping_v1 or self.supports_time_skipping_v2

    @property
    def supports_time_skipping_v1(self) -> bool:
        """Time skips for the whole server while a test waits (`start_time_skipping()`), as
        temporalio's V1 test server does."""
        return False

    @property
    def supports_time_skipping_v2(self) -> bool:
        """Temporalio's experimental per-workflow time skipping (V2): not in Tidal."""
        return False

    @contextlib.contextmanager
    def auto_time_skipping_disabled(self) -> Iterator[None]:
        """Within the block, waiting for a result does not skip time (`env.sleep()` still
        does). A no-op on environments without time skipping."""
        yield None

    @contextlib.contextmanager
    def with_time_skipping_disabled(self) -> Iterator[None]:
        """Temporalio's V2 switch for workflows started in the block; like temporalio on a
        non-V2 environment (all of Tidal's), it changes nothing. Use
        `auto_time_skipping_disabled()` to stop time from skipping."""
        yield None

    async def get_current_time(self, handle: WorkflowHandle[Any] | None = None) -> datetime:
        """The environment's time: the system clock, or the skipping clock. One clock serves
        every workflow, so `handle` (temporalio's V2 per-workflow clock) changes nothing."""
        del handle
        return datetime.now(UTC)

    async def sleep(self, duration: timedelta | float) -> None:
        await asyncio.sleep(duration.total_seconds() if isinstance(duration, timedelta) else duration)

    @property
    def server(self) -> EmbeddedServerLike | None:
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

    def __init__(
        self, *, server: EmbeddedServerLike, clock: Any, namespace: str, data_converter: DataConverter
    ) -> None:
        client = _client(
            server, namespace=namespace, data_converter=data_converter, result_wait_hook=self._skipping
        )
        super().__init__(client=client, server=server)
        self._embedded = server
        self._clock = clock
        self._waiters = 0
        self._auto_disabled = 0
        self._skipper: asyncio.Task[None] | None = None

    @property
    def supports_time_skipping_v1(self) -> bool:
        return True

    @contextlib.contextmanager
    def auto_time_skipping_disabled(self) -> Iterator[None]:
        self._auto_disabled += 1
        try:
            yield None
        finally:
            self._auto_disabled -= 1

    async def get_current_time(self, handle: WorkflowHandle[Any] | None = None) -> datetime:
        del handle
        now: datetime = self._clock.now()
        return now

    async def sleep(self, duration: timedelta | float) -> None:
        """Move the server's time forward by `duration`, firing every timer due on the way (each
        one after the server has finished reacting to the previous)."""
        seconds = duration.total_seconds() if isinstance(duration, timedelta) else float(duration)
        target = self._clock.now() + timedelta(seconds=seconds)
        while True:
            await self._until_quiet()
            due = await self._embedded.next_timer_due()
            if due is None or due > target:
                self._clock.skip_to(target)
                await self._until_quiet()
                return
            self._clock.skip_to(due)
            await self._until_fired(due)

    @contextlib.asynccontextmanager
    async def _skipping(self) -> AsyncIterator[None]:
        if self._auto_disabled:
            yield
            return
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
            due = await self._embedded.next_timer_due()
            if due is not None and due > self._clock.now() and not self._embedded.busy():
                self._clock.skip_to(due)
                await self._until_fired(due)
            else:
                await asyncio.sleep(self._POLL_SECONDS)

    async def _until_quiet(self) -> None:
        quiet_since: float | None = None
        loop = asyncio.get_running_loop()
        while True:
            if self._embedded.busy():
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
            nxt = await self._embedded.next_timer_due()
            if nxt is None or nxt > due:
                return
            await asyncio.sleep(self._POLL_SECONDS)

    async def shutdown(self) -> None:
        if self._skipper is not None:
            self._skipper.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._skipper
        await super().shutdown()


async def _start_server(*, shard_count: int, database_path: str | None, clock: Any) -> EmbeddedServerLike:
    try:
        from tidal_server.embedded import EmbeddedServer
    except ImportError as exc:  # pragma: no cover - depends on the installation
        raise RuntimeError(
            "WorkflowEnvironment needs the Tidal server packages: `pip install 'tidal[testing]'`"
        ) from exc
    server: EmbeddedServerLike = EmbeddedServer(
        shard_count=shard_count, database_path=database_path, clock=clock
    )
    await server.start()
    return server


def _client(
    server: EmbeddedServerLike,
    *,
    namespace: str,
    data_converter: DataConverter,
    identity: str | None = None,
    result_wait_hook: Callable[[], AbstractAsyncContextManager[None]] | None = None,
) -> Client:
    http = httpx.AsyncClient(
        transport=httpx.ASGITransport(app=server.asgi_app), base_url="http://tidal.embedded", timeout=90.0
    )
    return Client(
        http=http,
        namespace=namespace,
        data_converter=data_converter,
        identity=identity,
        worker_transport=server.worker_transport,
        result_wait_hook=result_wait_hook,
    )


def _same_server(client: Client, **options: Any) -> Client:
    """A client of the server `client` talks to, the same way (an embedded server's in-process
    app, or the network) with the same credentials; it has its own connections, so closing one
    client leaves the other working."""
    base = client._http
    transport = base._transport
    own: httpx.AsyncBaseTransport | None = None
    if isinstance(transport, httpx.ASGITransport):
        own = httpx.ASGITransport(app=transport.app)
    elif isinstance(transport, AiohttpTransport):
        own = transport.fresh()
    http = httpx.AsyncClient(
        transport=own, base_url=base.base_url, headers=base.headers, timeout=base.timeout
    )
    return Client(
        http=http,
        worker_transport=client._worker_transport,
        rpc_retry_seconds=client.rpc_retry_seconds,
        amqp_url=client._amqp_url,
        **options,
    )
