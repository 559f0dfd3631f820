"""One call of the frontend's HTTP API: errors as `RPCError` (the server's problem code as
`status`), retries while the server is unavailable, the caller's trace propagated."""

from __future__ import annotations

import asyncio
import json
import time
from typing import Any

import httpx
from opentelemetry import propagate

from ._client_errors import RPCTimeoutOrCancelledError
from ._http_direct import send_direct
from ._inprocess_transport import InProcessTransport
from .exceptions import RPCError

__all__ = ["call"]

_RETRIED = frozenset({"unavailable", "resource_exhausted"})


async def call(
    http: httpx.AsyncClient, method: str, path: str, *, retry_seconds: float, **kwargs: Any
) -> dict[str, Any]:
    """A server that is starting or briefly without a history shard answers 503, and a
    frontend that is not listening yet refuses the connection: both are retried with backoff
    until `retry_seconds` runs out, as temporalio retries UNAVAILABLE; so is a run's bound
    (`resource_exhausted`: 10 updates in flight), as temporalio retries RESOURCE_EXHAUSTED.
    Retrying is safe because every write carries a request id (an update its update id)."""
    deadline = time.monotonic() + retry_seconds
    delay = 0.05
    while True:
        try:
            return await _call_once(http, method, path, **kwargs)
        except RPCError as exc:
            if exc.status not in _RETRIED or time.monotonic() + delay > deadline:
                raise
        await asyncio.sleep(delay)
        delay = min(delay * 2, 2.0)


async def _call_once(http: httpx.AsyncClient, method: str, path: str, **kwargs: Any) -> dict[str, Any]:
    transport = http._transport
    if isinstance(transport, InProcessTransport):
        # A server in this process: its adapter may answer without HTTP (and the caller's trace
        # context is already the server's: same process, same task).
        answer = await transport.call(http, method, path, kwargs)
        if answer is not None:
            return _document(*answer, reason="")
    # The caller's trace (if any) continues through the server: W3C traceparent header.
    carrier: dict[str, str] = {}
    propagate.inject(carrier)
    if carrier:
        kwargs["headers"] = {**carrier, **kwargs.get("headers", {})}
    try:
        sent = await send_direct(http, method, path, kwargs)
        if sent is None:
            resp = await http.request(method, path, **kwargs)
    except httpx.ConnectError as exc:  # nothing was sent: always safe to retry
        raise RPCError(
            f"cannot reach the Tidal frontend at {http.base_url}: {exc}; is the server "
            "running? (`make dev` or `tidal-server dev` starts one)",
            status="unavailable",
        ) from exc
    except httpx.TimeoutException as exc:
        raise RPCTimeoutOrCancelledError(
            f"call to the Tidal frontend at {http.base_url} timed out: {exc!r}"
        ) from exc
    except httpx.HTTPError as exc:
        raise RPCError(
            f"call to the Tidal frontend at {http.base_url} failed: {exc}", status="internal"
        ) from exc
    if sent is not None:
        status, reason, content = sent
        if 300 <= status < 400:
            raise _redirected(http, status, reason, content.decode("latin-1"))
        return _answer(http, status, reason, content)
    if resp.is_redirect or 300 <= resp.status_code < 400:
        raise _redirected(http, resp.status_code, resp.reason_phrase, resp.headers.get("location", ""))
    return _answer(http, resp.status_code, resp.reason_phrase, resp.content)


def _redirected(http: httpx.AsyncClient, status: int, reason: str, location: str) -> RPCError:
    # A proxy or load balancer in front of the frontend, never the frontend: not followed (a
    # start or signal re-sent elsewhere is the operator's call), and never read as an answer.
    return RPCError(
        f"the address {http.base_url} answered {status} {reason}, a redirect to {location or '(nowhere)'}: "
        "point the client at the Tidal frontend itself",
        status="internal",
        code=status,
    )


def _answer(http: httpx.AsyncClient, status: int, reason: str, content: bytes) -> dict[str, Any]:
    """The answer's JSON document, or its problem raised as `RPCError`; a body that is not a
    JSON object (cut short by a close, or not the frontend's) is an `RPCError` too."""
    try:
        document = json.loads(content) if content else {}
    except ValueError:
        document = None
    if status >= 400:
        if not isinstance(document, dict):
            document = {"detail": content.decode("utf-8", errors="replace")}
        return _document(status, document, reason=reason)
    if not isinstance(document, dict):
        raise RPCError(
            f"the Tidal frontend at {http.base_url} answered {status} with a body that is not a JSON "
            f"document ({len(content)} bytes: cut short by a closed connection, or not the frontend's); "
            "the call may have taken effect",
            status="internal",
            code=status,
        )
    return document


def _document(status: int, document: dict[str, Any], *, reason: str) -> dict[str, Any]:
    """The answer's document, or its problem document raised as `RPCError`."""
    if status < 400:
        return document
    raise RPCError(
        str(document.get("detail") or document.get("title") or reason),
        status=str(document.get("code", "internal")),
        code=status,
        run_id=document.get("run_id"),
        problem=document,
    )
