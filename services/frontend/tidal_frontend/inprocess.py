"""The in-process adapter: the hot client calls of a client in the frontend's own process (the
embedded mode's `WorkflowEnvironment.start_local()`) without HTTP, and the same two calls over
HTTP without the FastAPI stack (fast_path.py serves them through `InProcessCalls.reply`).

A third thin adapter of the operations, beside the HTTP routes and the AMQP command consumer. It
takes what an HTTP request carries (method, path, query, headers, the JSON body's bytes) and
answers what the route would (status, JSON document), applying the same checks in the same order:
the caller's key and the operation's policy (`auth`, `operations.policy.admit`), then the
request's validation (the route's models; errors as the same 400 problem), then the operation;
every error goes through the app's own exception handlers, so its problem document is the
route's. It counts in the same request metrics under the route's template and opens the same
server span (`metrics.TelemetryMiddleware`'s). What the ASGI stack
refuses before any route runs (NUL in the path or query, a body too large, too deep, not JSON or
not an object: `problems.BodyLimit`, FastAPI's parsing) it declines, so the app refuses it.

Only the two calls every workflow makes go this way: the start (`POST .../workflows`) and the
result long poll (`GET .../workflows/{id}/result`). Everything else, and any request of theirs
with a parameter the adapter does not know, answers None: the caller then sends it through the
ASGI app as before. What it saves is the ASGI and FastAPI machinery and the client's HTTP layer
per call (docs/performance.md, "Embedded mode"): in the embedded mode they were about a fifth of
the process's CPU per workflow.
"""

from __future__ import annotations

import asyncio
import json
import re
import time
from collections.abc import Mapping
from typing import Any
from urllib.parse import unquote, urlencode

from fastapi import FastAPI
from fastapi.exceptions import RequestValidationError
from opentelemetry import context as otel_context
from opentelemetry import propagate
from opentelemetry.trace import SpanKind, Status, StatusCode
from pydantic import BaseModel, ConfigDict, Field, ValidationError
from starlette.responses import JSONResponse, Response
from tidal_schema.limits import MAX_DOCUMENT_DEPTH, MAX_ID_LENGTH, STORE_SAFE_PATTERN, document_depth_exceeds
from tidal_server.apikeys import Role
from tidal_server.telemetry import SERVICE_ATTRIBUTE, tracer

from . import metrics
from .api import get_result
from .api import start_workflow as start_api
from .api.router import PREFIX
from .context import FrontendContext
from .operations import start_workflow as start_op
from .operations.policy import Policy, admit
from .problems import PROBLEM_MEDIA_TYPE, problem_body, unsafe_target

__all__ = ["RESULT_ROUTE", "START_ROUTE", "Answer", "InProcessCalls", "Reply"]

Answer = tuple[int, dict[str, Any]]
"""(HTTP status, JSON document) as the route would have answered."""
Reply = tuple[int, BaseModel | Response]
"""(HTTP status, the route's answer model or the app's problem response)."""

# The route templates, as the HTTP metrics label them (checked against the app's routes by the
# tests): the same series counts both transports.
START_ROUTE = f"{PREFIX}/namespaces/{{namespace}}/workflows"
RESULT_ROUTE = f"{PREFIX}/namespaces/{{namespace}}/workflows/{{workflow_id:path}}/result"

_START = re.compile(rf"^{re.escape(PREFIX)}/namespaces/([^/]+)/workflows$")
_RESULT = re.compile(rf"^{re.escape(PREFIX)}/namespaces/([^/]+)/workflows/(.+)/result$")
_READ = Policy(role=Role.READER)  # the result route's `require(Role.READER)`
_tracer = tracer("tidal.frontend")


class _ResultQuery(BaseModel):
    """The result route's query and path parameters, with the route's constraints."""

    model_config = ConfigDict(extra="forbid")

    namespace: str = Field(min_length=1, max_length=1000, pattern=STORE_SAFE_PATTERN)
    workflow_id: str = Field(min_length=1, max_length=MAX_ID_LENGTH, pattern=STORE_SAFE_PATTERN)
    run_id: str | None = Field(default=None, max_length=MAX_ID_LENGTH, pattern=STORE_SAFE_PATTERN)
    wait: float = Field(default=0.0, ge=0)


_RESULT_LOCATIONS = {"namespace": "path", "workflow_id": "path", "run_id": "query", "wait": "query"}


class _Namespace(BaseModel):
    namespace: str = Field(min_length=1, max_length=1000, pattern=STORE_SAFE_PATTERN)


class InProcessCalls:
    """`await calls(method, path, query, headers, body)`: the answer, or None when this call is
    not one the adapter serves (send it through the ASGI app)."""

    def __init__(self, *, ctx: FrontendContext, app: FastAPI) -> None:
        self._ctx = ctx
        self._app = app

    async def __call__(
        self,
        method: str,
        path: str,
        query: Mapping[str, str],
        headers: Mapping[str, str],
        body: bytes | None,
    ) -> Answer | None:
        reply = await self.reply(method, unquote(path), query, headers, body)  # unquote: the scope's path
        if reply is None:
            return None
        status, content = reply
        if isinstance(content, BaseModel):
            return status, content.model_dump(mode="json")
        return status, json.loads(bytes(content.body))

    async def reply(
        self,
        method: str,
        path: str,
        query: Mapping[str, str],
        headers: Mapping[str, str],
        body: bytes | None,
    ) -> Reply | None:
        """`__call__` for a path already percent-decoded (an ASGI scope's), answering the route's
        model or the app's problem response (with its headers: Retry-After, WWW-Authenticate)."""
        if unsafe_target(path, urlencode(query).encode()) is not None:
            return None
        if method == "POST" and not query and (match := _START.match(path)):
            document = self._document(body)
            if document is None:
                return None
            route, serve = START_ROUTE, self._start(match[1], headers, document)
        elif method == "GET" and body is None and query.keys() <= {"run_id", "wait"}:
            match = _RESULT.match(path)
            if match is None:
                return None
            route, serve = RESULT_ROUTE, self._result(match[1], match[2], query, headers)
        else:
            return None
        started = time.perf_counter()
        status = 500
        # The span TelemetryMiddleware opens, in the context the HTTP call would carry: the
        # caller's, unless its headers name another (the SDK lets rpc_metadata's win).
        carrier: dict[str, str] = {}
        propagate.inject(carrier)
        carrier.update(headers)
        token = otel_context.attach(propagate.extract(carrier))
        try:
            with _tracer.start_as_current_span(
                f"{method} {route}", kind=SpanKind.SERVER, attributes={SERVICE_ATTRIBUTE: "frontend"}
            ) as span:
                content: BaseModel | Response
                try:
                    status, content = await serve
                except Exception as exc:  # answered as the app answers it
                    content = await self._problem(exc)
                    status = content.status_code
                span.set_attribute("http.route", route)
                span.set_attribute("http.response.status_code", status)
                if status >= 500:
                    span.set_status(Status(StatusCode.ERROR))
            return status, content
        except asyncio.CancelledError:
            status = 499  # the caller left (a long poll whose client hung up): not a server error
            raise
        finally:
            otel_context.detach(token)
            metrics.REQUESTS.labels(method, route, str(status)).inc()
            metrics.REQUEST_SECONDS.labels(method, route).observe(time.perf_counter() - started)

    def _document(self, body: bytes | None) -> dict[str, Any] | None:
        """The body's JSON object, or None for anything `problems.BodyLimit` or FastAPI would
        refuse before the route (none, too large, too deep, not JSON, not an object)."""
        if body is None or len(body) > self._ctx.settings.max_body_bytes:
            return None
        if document_depth_exceeds(body, MAX_DOCUMENT_DEPTH):
            return None
        try:
            document = json.loads(body)
        except ValueError:
            return None
        return document if isinstance(document, dict) else None

    async def _start(
        self, namespace: str, headers: Mapping[str, str], body: dict[str, Any]
    ) -> tuple[int, BaseModel]:
        ctx = self._ctx
        # The route's dependency admits before the body is validated (403/404 whatever the body).
        who = await ctx.auth.authenticate(_bearer(headers))
        admitted = await admit(ctx, who, namespace, start_op.POLICY)
        errors = _errors(_Namespace, {"namespace": namespace}, lambda _: "path")
        try:
            request = start_op.StartWorkflowRequest.model_validate(body)
        except ValidationError as exc:
            errors += [{**e, "loc": ("body", *e["loc"])} for e in exc.errors()]
        if errors:
            raise RequestValidationError(errors)
        return await start_api.start_and_wait(ctx, admitted, request)

    async def _result(
        self, namespace: str, workflow_id: str, query: Mapping[str, str], headers: Mapping[str, str]
    ) -> tuple[int, BaseModel]:
        ctx = self._ctx
        who = await ctx.auth.authenticate(_bearer(headers))
        await admit(ctx, who, namespace, _READ)
        # An empty run_id is "not given", as FastAPI reads `?run_id=`.
        params = {"namespace": namespace, "workflow_id": workflow_id, **{k: v for k, v in query.items() if v}}
        errors = _errors(_ResultQuery, params, _RESULT_LOCATIONS.__getitem__)
        if errors:
            raise RequestValidationError(errors)
        q = _ResultQuery.model_validate(params)
        answer = await get_result.get_result(ctx, q.namespace, q.workflow_id, q.run_id, q.wait)
        return 200, answer

    async def _problem(self, exc: Exception) -> Response:
        """The app's exception handler's response to `exc` (the same lookup Starlette does)."""
        handlers = self._app.exception_handlers
        handler = next((handlers[c] for c in type(exc).__mro__ if c in handlers), None)
        if handler is None:  # the app registers one for Exception; kept total anyway
            body = problem_body("internal", "internal error; see the frontend's logs")
            return JSONResponse(body, status_code=body["status"], media_type=PROBLEM_MEDIA_TYPE)
        # Every handler of the app is async and ignores the request (problems.install).
        response: Any = await handler(None, exc)  # type: ignore[arg-type, misc]
        assert isinstance(response, Response)
        return response


def _bearer(headers: Mapping[str, str]) -> str | None:
    """What `HTTPBearer(auto_error=False)` reads: the credentials of `Authorization: Bearer ...`."""
    value = next((v for k, v in headers.items() if k.lower() == "authorization"), None)
    if not value:
        return None
    scheme, _, credentials = value.partition(" ")
    return credentials if scheme.lower() == "bearer" and credentials else None


def _errors(model: type[BaseModel], params: dict[str, Any], where: Any) -> list[dict[str, Any]]:
    """FastAPI's validation errors of path/query parameters: the location first, then the name."""
    try:
        model.model_validate(params)
    except ValidationError as exc:
        return [{**e, "loc": (where(e["loc"][0]), *e["loc"])} for e in exc.errors()]
    return []
