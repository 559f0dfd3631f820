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
import socket
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import AbstractAsyncContextManager
from datetime import UTC, datetime, timedelta
from typing import Any, Protocol

import httpx

from ._activity_environment import ActivityEnvironment
from ._http_transport import AiohttpTransport
from ._inprocess_transport import InProcessCall, InProcessTransport
from ._search_attributes import SearchAttributeIndexedValueType, SearchAttributeKey
from ._time_skipping_config import FastForwardConfig, TimeSkippingConfig, TimeSkippingInfo
from .client import Client, Interceptor, Plugin, WorkflowHandle
from .common import QueryRejectCondition
from .converter import DataConverter


class EmbeddedServerLike(Protocol):
    """What the environments use of `tidal_server.embedded.EmbeddedServer` (the server packages
    are an optional extra, so the SDK names their shape rather than importing them)."""

    async def start(self) -> None: ...
    async def stop(self) -> None: ...
    @property
    def asgi_app(self) -> Any: ...
    @property
    def inprocess_calls(self) -> InProcessCall: ...
    def worker_transport(self) -> Any: ...
    def busy(self) -> bool: ...
    async def next_timer_due(self) -> datetime | None: ...

    @property
    def http_address(self) -> str | None: ...

    async def register_search_attributes(self, namespace: str, types: Mapping[str, str]) -> None: ...


__all__ = [
    "ActivityEnvironment",
    "EmbeddedServerLike",
    "FastForwardConfig",
    "TimeSkipper",
    "TimeSkippingConfig",
    "TimeSkippingInfo",
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
        interceptors: Sequence[Interceptor] = (),
        plugins: Sequence[Plugin] = (),
        default_workflow_query_reject_condition: QueryRejectCondition | None = None,
        identity: str | None = None,
        ip: str = "127.0.0.1",
        port: int | None = None,
        search_attributes: Sequence[SearchAttributeKey[Any]] = (),
        dev_server_database_filename: str | None = None,
        shard_count: int | None = None,
        database_path: str | None = None,
    ) -> WorkflowEnvironment:
        """A whole Tidal server in this process. The client options (`interceptors`, `plugins`,
        `default_workflow_query_reject_condition`, `identity`) are `Client.connect`'s.
        `port`: also serve the HTTP API on `ip:port` (0: a free port; `env.target_host` says
        which), for clients in other processes; by default the client talks to the server in
        process and nothing listens. `search_attributes`: custom search attributes registered
        with their types before anything runs (a Text attribute can only be made so).
        `dev_server_database_filename` (or `database_path`): keep the server's SQLite database
        in that file, so another environment on the same file sees this one's runs.
        `shard_count`: history shards; by default four for a new database and, for an existing
        file, the count it was used with (opened with fewer, the other shards' timers would
        never fire)."""
        path = _database_path(dev_server_database_filename, database_path)
        server = await _start_server(
            shard_count=shard_count, database_path=path, clock=None, ip=ip, port=port
        )
        try:
            await _register(server, namespace, search_attributes)
        except BaseException:
            await server.stop()
            raise
        client = _client(
            server,
            namespace=namespace,
            data_converter=data_converter,
            identity=identity,
            interceptors=interceptors,
            plugins=plugins,
            default_workflow_query_reject_condition=default_workflow_query_reject_condition,
        )
        return WorkflowEnvironment(client=client, server=server)

    @staticmethod
    async def start_time_skipping(
        *,
        namespace: str = "default",
        data_converter: DataConverter = DataConverter.default,
        interceptors: Sequence[Interceptor] = (),
        plugins: Sequence[Plugin] = (),
        default_workflow_query_reject_condition: QueryRejectCondition | None = None,
        identity: str | None = None,
        port: int | None = None,
        shard_count: int = 4,
    ) -> WorkflowEnvironment:
        """Like `start_local()`, but durable timers (sleeps, timeouts, retry backoff) do not make
        anyone wait: while a test awaits `handle.result()` or `env.sleep()` and the server is
        idle, the clock jumps to the next timer. Activities still run in real time. `port`
        serves the HTTP API on 127.0.0.1 as `start_local`'s (clients there skip no time)."""
        return await _start_skipping(
            None,
            shard_count=shard_count,
            port=port,
            namespace=namespace,
            data_converter=data_converter,
            identity=identity,
            interceptors=interceptors,
            plugins=plugins,
            default_workflow_query_reject_condition=default_workflow_query_reject_condition,
        )

    @staticmethod
    async def start_time_skipping_v2(
        *, ts_config: TimeSkippingConfig = TimeSkippingConfig(), **kwargs: Any
    ) -> WorkflowEnvironment:
        """temporalio's experimental per-workflow time skipping, on Tidal's one skipping clock:
        with `ts_config.enabled` the clock jumps to the next durable timer whenever the server is
        idle, whether or not anyone waits (a `fast_forward_config` jumps that far once, then
        stops; `max_session_skip_count` bounds the jumps). `fast_forward(handle, duration)` moves
        the clock on demand and `get_time_skipping_info(handle)` says how far it is ahead.
        Tidal's clock is the engine's, not the workflow's: a jump moves every run's timers.
        `kwargs`: `start_time_skipping`'s (client options, `namespace`, `port`...)."""
        return await _start_skipping(ts_config, **kwargs)

    @property
    def target_host(self) -> str | None:
        """Where the HTTP API is served (`start_local(port=...)`), else None."""
        return self._server.http_address if self._server is not None else None

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
        """Temporalio's experimental V2 API (`start_time_skipping_v2()`), on Tidal's one clock."""
        return False

    async def fast_forward(
        self, handle: WorkflowHandle[Any], duration: timedelta | float | None = None, /
    ) -> bool:
        """Move time ahead (`start_time_skipping_v2()` environments); RuntimeError elsewhere."""
        del handle, duration
        raise RuntimeError("fast_forward needs WorkflowEnvironment.start_time_skipping_v2()")

    async def get_time_skipping_info(self, handle: WorkflowHandle[Any]) -> TimeSkippingInfo | None:
        """How far time was skipped (`start_time_skipping_v2()` environments); RuntimeError elsewhere."""
        del handle
        raise RuntimeError("get_time_skipping_info needs WorkflowEnvironment.start_time_skipping_v2()")

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


def _database_path(filename: str | None, path: str | None) -> str | None:
    if filename is not None and path is not None and filename != path:
        raise ValueError("give dev_server_database_filename or database_path, not both")
    return filename if filename is not None else path


async def _register(
    server: EmbeddedServerLike, namespace: str, keys: Sequence[SearchAttributeKey[Any]]
) -> None:
    types: dict[str, str] = {}
    for key in keys:
        kind = _SERVER_TYPES.get(key.indexed_value_type)
        if kind is None:
            raise ValueError(f"search attribute {key.name!r}: {key.indexed_value_type.name} is not supported")
        types[key.name] = kind
    if types:
        await server.register_search_attributes(namespace, types)


_SERVER_TYPES = {
    SearchAttributeIndexedValueType.TEXT: "Text",
    SearchAttributeIndexedValueType.KEYWORD: "Keyword",
    SearchAttributeIndexedValueType.INT: "Int",
    SearchAttributeIndexedValueType.DOUBLE: "Double",
    SearchAttributeIndexedValueType.BOOL: "Bool",
    SearchAttributeIndexedValueType.DATETIME: "Datetime",
}


async def _start_skipping(
    ts_config: TimeSkippingConfig | None,
    *,
    shard_count: int = 4,
    port: int | None = None,
    **client_options: Any,
) -> WorkflowEnvironment:
    from tidal_server.clock import SkippingClock

    clock = SkippingClock()
    server = await _start_server(
        shard_count=shard_count, database_path=None, clock=clock, ip="127.0.0.1", port=port
    )

    options: dict[str, Any] = {
        "namespace": "default",
        "data_converter": DataConverter.default,
        **client_options,
    }

    def make_client(hook: Callable[[], AbstractAsyncContextManager[None]]) -> Client:
        return _client(server, result_wait_hook=hook, **options)

    env = TimeSkippingEnvironment(server=server, clock=clock, make_client=make_client, ts_config=ts_config)
    env.begin()
    return env


async def _start_server(
    *, shard_count: int | None, database_path: str | None, clock: Any, ip: str, port: int | None
) -> EmbeddedServerLike:
    try:
        from tidal_server.embedded import EmbeddedServer
    except ImportError as exc:  # pragma: no cover - depends on the installation
        raise RuntimeError(
            "WorkflowEnvironment needs the Tidal server packages: `pip install 'tidal[testing]'`"
        ) from exc
    server: EmbeddedServerLike = EmbeddedServer(
        shard_count=shard_count,
        database_path=database_path,
        clock=clock,
        http_port=_free_port(ip) if port == 0 else (port or 0),
        settings={"frontend": {"http_host": ip}},
    )
    await server.start()
    return server


def _free_port(ip: str) -> int:
    # The frontend binds the port itself; this asks the system for one that is free now.
    with socket.socket(socket.AF_INET6 if ":" in ip else socket.AF_INET) as sock:
        sock.bind((ip, 0))
        port: int = sock.getsockname()[1]
        return port


def _client(
    server: EmbeddedServerLike,
    *,
    namespace: str,
    data_converter: DataConverter,
    identity: str | None = None,
    result_wait_hook: Callable[[], AbstractAsyncContextManager[None]] | None = None,
    **options: Any,
) -> Client:
    transport = InProcessTransport(app=server.asgi_app, inprocess=server.inprocess_calls)
    http = httpx.AsyncClient(transport=transport, base_url="http://tidal.embedded", timeout=90.0)
    return Client(
        http=http,
        namespace=namespace,
        data_converter=data_converter,
        identity=identity,
        worker_transport=server.worker_transport,
        result_wait_hook=result_wait_hook,
        **options,
    )


def _same_server(client: Client, **options: Any) -> Client:
    """A client of the server `client` talks to, the same way (an embedded server's in-process
    app, or the network) with the same credentials; it has its own connections, so closing one
    client leaves the other working."""
    base = client._http
    transport = base._transport
    own: httpx.AsyncBaseTransport | None = None
    if isinstance(transport, InProcessTransport):
        own = transport.fresh()
    elif isinstance(transport, httpx.ASGITransport):
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


# The time-skipping environment subclasses WorkflowEnvironment: imported once it exists.
from ._time_skipping import TimeSkipper, TimeSkippingEnvironment  # noqa: E402
