"""The HTTP fast path: the start (`POST .../workflows`) and the result long poll
(`GET .../workflows/{id}/result`), every workflow's two calls, served without the FastAPI stack.

An ASGI app in front of the frontend's FastAPI app. It recognises those two requests and hands
them to the in-process adapter (inprocess.py), which applies the routes' checks in the routes'
order (key, policy, the route's request models, the operation), answers errors through the app's
own exception handlers, counts in the same request metrics under the same route template and
opens the same server span. The answer goes out as FastAPI would send it: the response model's
JSON (`model_dump_json(by_alias=True)`, FastAPI's serialization of a response model), or the
problem response with its headers (Retry-After, WWW-Authenticate).

Everything else, and every request of those two routes the adapter does not serve exactly as the
app would (a query parameter it does not know, a repeated header or parameter, a body that is not
plain JSON, too large, too deep, NUL in the target: what `problems.BodyLimit` and FastAPI refuse
before a route runs), falls through to the FastAPI app with its body replayed, so the app answers
it as before. What it saves is Starlette's and FastAPI's request machinery and our two
middlewares per call (docs/performance.md, "Frontend and client").
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Mapping
from typing import Any
from urllib.parse import parse_qsl

from pydantic import BaseModel
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from .api.router import PREFIX
from .inprocess import InProcessCalls, Reply
from .problems import body_deadline, body_too_slow, unsafe_target

__all__ = ["FastPath"]

_NAMESPACES = f"{PREFIX}/namespaces/"
_JSON = b"application/json"
# A start that waits for its result. A body with a JSON escape in it may spell the key escaped
# (`"wait\u005ffor_result"`), which the parser reads as the same key: such a body is parsed to
# tell. A plain start must not be taken for one: a client hanging up cancels a waiting start's
# call (only its wait: the start is shielded), while a plain start runs to its end.
_WAIT_FOR_RESULT = b'"wait_for_result"'
_ESCAPE = b"\\u"


class FastPath:
    """`FastPath(app=..., calls=..., max_body_bytes=..., body_seconds=...)`: an ASGI app serving
    the two hot routes through `calls` and everything else through `app`. A start's body must be
    in within `body_seconds` (the app's BodyLimit holds every other request to the same)."""

    def __init__(
        self, *, app: ASGIApp, calls: InProcessCalls, max_body_bytes: int, body_seconds: float = 30.0
    ) -> None:
        self.app = app
        self._calls = calls
        self._max_body_bytes = max_body_bytes
        self._body_seconds = body_seconds

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope.get("root_path"):
            await self.app(scope, receive, send)
            return
        method: str = scope["method"]
        path: str = scope["path"]
        start = method == "POST" and path.endswith("/workflows")
        if not path.startswith(_NAMESPACES) or not (start or (method == "GET" and path.endswith("/result"))):
            await self.app(scope, receive, send)
            return
        headers = _headers(scope["headers"])
        query = _query(scope.get("query_string", b""))
        if headers is None or query is None or unsafe_target(path, scope.get("query_string", b"")):
            await self.app(scope, receive, send)
            return
        body: bytes | None = None
        received: list[Message] = []
        if start:
            if not _plain_json(headers):
                await self.app(scope, receive, send)
                return
            try:
                async with asyncio.timeout_at(body_deadline(scope, self._body_seconds)):
                    body = await self._read(headers, receive, received)
            except TimeoutError:
                await body_too_slow(self._body_seconds)(scope, receive, send)
                return
            if body is None:
                await self.app(scope, _replay(received, receive), send)
                return
        elif headers.get("content-length", "0") != "0" or "transfer-encoding" in headers:
            await self.app(scope, receive, send)  # a GET with a body: BodyLimit's to judge
            return
        if (start and not _may_wait(body or b"")) or (not start and not _waits(query)):
            reply = await self._calls.reply(method, path, query, headers, body)
        else:
            # A result long poll, or a start that waits for its result (api/start_workflow.py).
            gone, reply = await self._long_poll(method, path, query, headers, body, receive, received)
            if gone:
                return  # nobody to answer
        if reply is None:
            await self.app(scope, _replay(received, receive), send)
            return
        status, content = reply
        if isinstance(content, BaseModel):
            # FastAPI's serialization of a response model (routing.serialize_response, dump_json).
            data = content.model_dump_json(by_alias=True).encode()
            raw = [(b"content-length", str(len(data)).encode()), (b"content-type", _JSON)]
        else:
            data = bytes(content.body)
            raw = content.raw_headers
        await send({"type": "http.response.start", "status": status, "headers": raw})
        await send({"type": "http.response.body", "body": data})

    async def _long_poll(
        self,
        method: str,
        path: str,
        query: Mapping[str, str],
        headers: Mapping[str, str],
        body: bytes | None,
        receive: Receive,
        received: list[Message],
    ) -> tuple[bool, Reply | None]:
        """The result long poll, given up when the client hangs up: (True, None) then. Otherwise an
        abandoned poll kept its task and its watch for the whole wait (up to a minute), and a
        client opening polls and hanging up piled them up. A start that waits for its result is
        given up the same way, but only its wait: the start itself finishes (it is shielded,
        api/start_workflow.py), as a plain start does when its client leaves."""
        reply = asyncio.ensure_future(self._calls.reply(method, path, query, headers, body))
        gone = asyncio.ensure_future(_until_gone(receive, received))
        try:
            await asyncio.wait((reply, gone), return_when=asyncio.FIRST_COMPLETED)
        finally:
            # Before the answer goes out: uvicorn's receive() also returns once a response is
            # complete, and whatever it took is in `received` for the app if the poll declines.
            gone.cancel()
            if not reply.done():
                reply.cancel()  # the client left, or this request is being cancelled
        if reply.cancelled() or not reply.done():
            # Its watch is removed before we return. asyncio.wait, not awaiting it: that would
            # raise its CancelledError, and suppressing that could swallow a cancel of our own.
            await asyncio.wait((reply,))
            return True, None
        return False, reply.result()

    async def _read(
        self, headers: Mapping[str, str], receive: Receive, received: list[Message]
    ) -> bytes | None:
        """The whole body, or None (with what was read in `received`) when the app must judge it:
        declared or found larger than the limit, or the client left."""
        declared = headers.get("content-length")
        if declared is not None and (not declared.isdigit() or int(declared) > self._max_body_bytes):
            return None
        size = 0
        while True:
            message = await receive()
            received.append(message)
            if message["type"] != "http.request":
                return None
            size += len(message.get("body", b""))
            if size > self._max_body_bytes:
                return None
            if not message.get("more_body", False):
                return b"".join(m.get("body", b"") for m in received)


async def _until_gone(receive: Receive, received: list[Message]) -> None:
    """Until the client disconnects. A GET's first message is its (empty) request; kept for the
    app in case the poll is declined."""
    while (message := await receive())["type"] != "http.disconnect":
        received.append(message)


def _may_wait(body: bytes) -> bool:
    """Whether a start's body asks to wait for the result (see `_ESCAPE`); a body that is no JSON
    object does not (the start's own validation answers it)."""
    if _WAIT_FOR_RESULT in body:
        return True
    if _ESCAPE not in body:
        return False
    try:
        document = json.loads(body)
    except (ValueError, RecursionError):  # nested past the parser's depth: the app judges it
        return False
    return isinstance(document, dict) and "wait_for_result" in document


def _waits(query: Mapping[str, str]) -> bool:
    """A long poll: `wait` above zero (the route's own validation judges what is not a number)."""
    try:
        return float(query.get("wait", "0")) > 0
    except ValueError:
        return False


def _headers(raw: list[tuple[bytes, bytes]]) -> dict[str, str] | None:
    """The request's headers by (lower-case) name, or None when a name repeats: the app's layers
    read repeats differently (the first for auth, the last for trace context), so it judges."""
    headers = {k.decode("latin-1"): v.decode("latin-1") for k, v in raw}
    return headers if len(headers) == len(raw) else None


def _query(query_string: bytes) -> dict[str, str] | None:
    """The query parameters as Starlette reads them, or None when one repeats."""
    pairs = parse_qsl(query_string.decode("latin-1"), keep_blank_values=True)
    query = dict(pairs)
    return query if len(query) == len(pairs) else None


def _plain_json(headers: Mapping[str, str]) -> bool:
    """Whether FastAPI would parse the body as JSON the plain way: no content type (FastAPI then
    tries JSON) or exactly application/json (any other type, `+json` ones included, it judges)."""
    value = headers.get("content-type")
    if value is None:
        return True
    return value.partition(";")[0].strip().lower() == "application/json"


def _replay(received: list[Message], receive: Receive) -> Receive:
    """`receive` with the messages already taken from it given back first."""
    pending = list(received)

    async def replayed() -> Any:
        if pending:
            return pending.pop(0)
        return await receive()

    return replayed
