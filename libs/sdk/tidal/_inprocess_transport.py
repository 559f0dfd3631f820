"""The client's transport to a server in its own process (`WorkflowEnvironment.start_local()`).

It is httpx's ASGI transport to the server's app, plus a shortcut: `call` hands the calls the
server's in-process adapter serves (the start and the result long poll, the two every workflow
makes) straight to it, without building an HTTP request, running the ASGI app and parsing the
response; the adapter answers what the route would (status and JSON document, the same checks
and problem documents), so the client cannot tell the difference. Everything else, and any call
the adapter declines, goes through the app as an HTTP request.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Awaitable, Callable, Mapping
from typing import Any

import httpx

from ._client_errors import RPCTimeoutOrCancelledError

__all__ = ["InProcessCall", "InProcessTransport"]

InProcessCall = Callable[
    [str, str, Mapping[str, str], Mapping[str, str], bytes | None],
    Awaitable[tuple[int, dict[str, Any]] | None],
]
"""`(method, path, query, headers, body) -> (status, document)`, or None for "send it over the
app": the server's `inprocess_calls`."""

_KNOWN = frozenset({"json", "params", "headers", "timeout"})


class InProcessTransport(httpx.ASGITransport):
    def __init__(self, *, app: Any, inprocess: InProcessCall) -> None:
        super().__init__(app=app)
        self.inprocess = inprocess

    def fresh(self) -> InProcessTransport:
        """A transport of its own to the same server (another client's)."""
        return InProcessTransport(app=self.app, inprocess=self.inprocess)

    async def call(
        self, http: httpx.AsyncClient, method: str, path: str, options: Mapping[str, Any]
    ) -> tuple[int, dict[str, Any]] | None:
        """The call's answer from the in-process adapter, or None if it declined the call. The
        body, query and headers are what httpx would have sent; the timeout is the call's or the
        client's read timeout, as over HTTP."""
        if not options.keys() <= _KNOWN:
            return None
        body = None
        if options.get("json") is not None:
            # httpx's own JSON encoding, so the adapter sees (and measures) the same bytes.
            body = json.dumps(
                options["json"], ensure_ascii=False, separators=(",", ":"), allow_nan=False
            ).encode()
        query = {k: _query_value(v) for k, v in (options.get("params") or {}).items()}
        headers = dict(http.headers)
        headers.update(options.get("headers") or {})
        timeout = options.get("timeout", http.timeout.read)
        try:
            async with asyncio.timeout(timeout):
                return await self.inprocess(method, path, query, headers, body)
        except TimeoutError as exc:
            raise RPCTimeoutOrCancelledError(
                f"in-process call {method} {path} timed out after {timeout} s"
            ) from exc


def _query_value(value: Any) -> str:
    # httpx's primitive_value_to_str.
    if value is True:
        return "true"
    if value is False:
        return "false"
    return "" if value is None else str(value)
