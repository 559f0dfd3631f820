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
        if status >= 400:
            try:
                problem = json.loads(content)
            except ValueError:
                problem = {"detail": content.decode("utf-8", errors="replace")}
            return _document(status, problem, reason=reason)
        document: dict[str, Any] = json.loads(content) if content else {}
        return document
    if resp.status_code >= 400:
        try:
            problem = resp.json()
        except ValueError:
            problem = {"detail": resp.text}
        return _document(resp.status_code, problem, reason=resp.reason_phrase)
    data: dict[str, Any] = resp.json() if resp.content else {}
    return data


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
