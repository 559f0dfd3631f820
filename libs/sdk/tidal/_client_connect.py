"""Connecting a client (re-exported by `tidal.client`): `ClientConfig` (what a client is built
from), temporalio's client `Plugin` (a chain over
the client's configuration and its connection), `HttpConnectConfig` (what `Client.connect` was
asked for, Tidal's stand-in for temporalio's gRPC `ConnectConfig`), `PayloadLimitsConfig`
(warning sizes for outbound payloads and memos) and the eager/lazy connection itself."""

from __future__ import annotations

import abc
import json
import logging
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import timedelta
from typing import TYPE_CHECKING, Any, TypedDict

import httpx

from ._http_call import call

if TYPE_CHECKING:
    from contextlib import AbstractAsyncContextManager

    from ._client_interceptor import Interceptor
    from ._policies import QueryRejectCondition
    from ._transport import WorkerTransport
    from .converter import DataConverter

__all__ = [
    "ClientConfig",
    "HttpConnectConfig",
    "PayloadLimitsConfig",
    "Plugin",
    "connect_http",
    "connect_through",
    "warn_large_payloads",
]

logger = logging.getLogger("tidal.client")


@dataclass(frozen=True)
class PayloadLimitsConfig:
    """Warning thresholds for what a client sends, as temporalio's: a payload-bearing field
    (a call's arguments, heartbeat details...) over `payloads_warn_size` bytes, or a memo over
    `memo_warn_size`, is logged (logger `tidal.client`) and still sent; 0 turns a warning off.
    The hard limit is the server's (2 MiB per payload by default): a bigger value fails when it
    is converted, before anything is sent, and the server refuses it too."""

    payloads_warn_size: int = 512 * 1024
    memo_warn_size: int = 2 * 1024


# Mutable, as temporalio's ConnectConfig: a plugin's connect_service_client changes it in place
# (an API key from a vault, another address) before calling `next`.
@dataclass
class HttpConnectConfig:
    """What `Client.connect` was asked for, handed to each client plugin's
    `connect_service_client` (temporalio's `ConnectConfig` without the gRPC settings)."""

    target_host: str
    api_key: str | None = None
    identity: str = ""
    lazy: bool = False
    connect_timeout: timedelta | None = None
    payload_limits: PayloadLimitsConfig = field(default_factory=PayloadLimitsConfig)
    rpc_retry_seconds: float = 30.0
    headers: Mapping[str, str] = field(default_factory=dict)


class ClientConfig(TypedDict):
    """What a `Client` was built with (`Client.config()`; temporalio's, with the HTTP client in
    place of the gRPC service client): `Client(**config)` builds another client from it."""

    http: httpx.AsyncClient
    namespace: str
    data_converter: DataConverter
    identity: str | None
    worker_transport: Callable[[], WorkerTransport] | None
    rpc_retry_seconds: float
    amqp_url: str | None
    interceptors: Sequence[Interceptor]
    default_workflow_query_reject_condition: QueryRejectCondition | None
    result_wait_hook: Callable[[], AbstractAsyncContextManager[None]] | None
    plugins: Sequence[Plugin]
    payload_limits: PayloadLimitsConfig


class Plugin(abc.ABC):
    """A client plugin (temporalio's `temporalio.client.Plugin`): `configure_client` changes the
    configuration a `Client` is built from (interceptors, data converter...), and
    `connect_service_client` wraps opening the connection (Tidal's is the HTTP client of the
    frontend: `next(config)` opens it). A plugin that is also a `tidal.worker.Plugin` is applied to
    every worker built on the client too (do not pass it to the worker again)."""

    def name(self) -> str:
        """The plugin's fully qualified class name."""
        return f"{type(self).__module__}.{type(self).__qualname__}"

    @abc.abstractmethod
    def configure_client(self, config: ClientConfig) -> ClientConfig:
        """The client's configuration, changed as this plugin needs."""

    @abc.abstractmethod
    async def connect_service_client(
        self,
        config: HttpConnectConfig,
        next: Callable[[HttpConnectConfig], Awaitable[httpx.AsyncClient]],
    ) -> httpx.AsyncClient:
        """Open the connection: `return await next(config)`, with whatever the plugin adds."""


async def connect_http(config: HttpConnectConfig) -> httpx.AsyncClient:
    """The HTTP client of the frontend at `config.target_host`. Unless `lazy`, it first asks the
    frontend's `/healthz` (retried while unavailable, for `rpc_retry_seconds`), so a wrong
    address fails here rather than at the first call, as temporalio's eager connect."""
    target = config.target_host
    base = target if "://" in target else f"http://{target}"
    headers = dict(config.headers)
    if config.api_key:
        headers["Authorization"] = f"Bearer {config.api_key}"
    connect = config.connect_timeout.total_seconds() if config.connect_timeout is not None else 10.0
    http = httpx.AsyncClient(base_url=base, headers=headers, timeout=httpx.Timeout(90.0, connect=connect))
    if not config.lazy:
        try:
            await call(http, "GET", "/healthz", retry_seconds=config.rpc_retry_seconds)
        except BaseException:
            await http.aclose()
            raise
    return http


def connect_through(
    plugins: Sequence[Plugin], last: Callable[[HttpConnectConfig], Awaitable[httpx.AsyncClient]]
) -> Callable[[HttpConnectConfig], Awaitable[httpx.AsyncClient]]:
    """`last` wrapped by each plugin's `connect_service_client`, the first plugin outermost."""
    chain = last
    for plugin in reversed(plugins):
        chain = _bind(plugin, chain)
    return chain


def _bind(
    plugin: Plugin, next: Callable[[HttpConnectConfig], Awaitable[httpx.AsyncClient]]
) -> Callable[[HttpConnectConfig], Awaitable[httpx.AsyncClient]]:
    async def connect(config: HttpConnectConfig) -> httpx.AsyncClient:
        return await plugin.connect_service_client(config, next)

    return connect


def warn_large_payloads(body: Any, limits: PayloadLimitsConfig, what: str) -> None:
    """Log each payload-bearing field of a request body (a list of payloads) over the payload
    warning size, and each memo over the memo one. Only the JSON of the payloads is measured, as
    they travel."""
    if not isinstance(body, dict) or not (limits.payloads_warn_size or limits.memo_warn_size):
        return
    for key, value in body.items():
        if key == "memo" and isinstance(value, dict) and limits.memo_warn_size:
            size = _size(value)
            if size > limits.memo_warn_size:
                logger.warning(
                    "%s: memo is %d bytes, over the warning size %d", what, size, limits.memo_warn_size
                )
        elif _is_payloads(value) and limits.payloads_warn_size:
            size = _size(value)
            if size > limits.payloads_warn_size:
                logger.warning(
                    "%s: %s is %d bytes, over the payload warning size %d",
                    what,
                    key,
                    size,
                    limits.payloads_warn_size,
                )
        elif isinstance(value, dict):
            warn_large_payloads(value, limits, what)


def _is_payloads(value: Any) -> bool:
    return (
        isinstance(value, list)
        and bool(value)
        and all(isinstance(p, dict) and "metadata" in p for p in value)
    )


def _size(value: Any) -> int:
    return len(json.dumps(value, ensure_ascii=False, separators=(",", ":"), default=str))
