"""Error bodies (RFC 7807 problem details) with stable `code` values clients can switch on.

Every error the API returns goes through here, so clients see one shape whatever failed:
``{"type", "title", "status", "detail", "code", ...extra}`` with content type
``application/problem+json``. `code` is the contract; `title`/`detail` are for humans.
"""

from __future__ import annotations

import asyncio
import logging
import sqlite3
from typing import Any

import asyncpg
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from pydantic import BaseModel, ValidationError
from sqlalchemy.exc import InterfaceError, OperationalError, SQLAlchemyError
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.responses import JSONResponse
from starlette.types import Receive, Scope, Send
from tidal_schema.limits import MAX_DOCUMENT_DEPTH, document_depth_exceeds
from tidal_server.bus import BusError
from tidal_server.faults import describe, is_transient

log = logging.getLogger("tidal.frontend")

PROBLEM_MEDIA_TYPE = "application/problem+json"
# Seconds a client should wait before retrying a 503: the broker's and the database's clients
# reconnect within about a second, and history answers again as soon as a shard has an owner.
RETRY_AFTER_SECONDS = 1

# code -> (HTTP status, title). ErrorReply codes from history map onto the same table.
CODES: dict[str, tuple[int, str]] = {
    "invalid_argument": (400, "Invalid argument"),
    "unauthenticated": (401, "Unauthenticated"),
    "forbidden": (403, "Forbidden"),
    "not_found": (404, "Not found"),
    "namespace_not_found": (404, "Namespace not found"),
    "method_not_allowed": (405, "Method not allowed"),
    "already_started": (409, "Workflow already started"),
    "namespace_already_exists": (409, "Namespace already exists"),
    "namespace_deprecated": (409, "Namespace deprecated"),
    "schedule_already_exists": (409, "Schedule already exists"),
    "conflict": (412, "Precondition failed"),
    "request_timeout": (408, "Request timeout"),
    "payload_too_large": (413, "Request body too large"),
    "rate_limited": (429, "Too many requests"),
    "resource_exhausted": (429, "Resource exhausted"),
    "query_failed": (400, "Query failed"),
    "query_rejected": (412, "Query rejected"),
    "internal": (500, "Internal error"),
    "unavailable": (503, "Service unavailable"),
    "deadline_exceeded": (504, "Deadline exceeded"),
}


class ProblemModel(BaseModel):
    """The documented shape of an error body (extra members such as run_id may be present)."""

    type: str
    title: str
    status: int
    detail: str
    code: str


class Problem(Exception):
    """Raise from an endpoint to answer with a problem body."""

    def __init__(self, code: str, detail: str, **extra: Any) -> None:
        super().__init__(detail)
        self.code = code
        self.detail = detail
        self.extra = extra
        # Response headers (WWW-Authenticate on 401, Retry-After on 429).
        self.headers: dict[str, str] = {}

    @property
    def status(self) -> int:
        return CODES.get(self.code, CODES["internal"])[0]


def problem_body(code: str, detail: str, **extra: Any) -> dict[str, Any]:
    status, title = CODES.get(code, CODES["internal"])
    return {
        "type": f"urn:tidal:problem:{code}",
        "title": title,
        "status": status,
        "detail": detail,
        "code": code,
        **extra,
    }


def problem_response(code: str, detail: str, **extra: Any) -> JSONResponse:
    body = problem_body(code, detail, **extra)
    response = JSONResponse(body, status_code=body["status"], media_type=PROBLEM_MEDIA_TYPE)
    if body["status"] == 503:
        # Every 503 is retryable by contract (the same request id makes a repeat safe); say when.
        response.headers["Retry-After"] = str(RETRY_AFTER_SECONDS)
    return response


# OpenAPI: the error responses each operation documents.
def responses(*codes: str) -> dict[int | str, dict[str, Any]]:
    out: dict[int | str, dict[str, Any]] = {}
    for c in codes:
        status, title = CODES[c]
        if status in out:  # several codes share a status: list them all
            out[status]["description"] += f"; {title} (`{c}`)"
        else:
            desc = f"{title} (`{c}`)"
            out[status] = {"model": ProblemModel, "description": desc, "content": {PROBLEM_MEDIA_TYPE: {}}}
    return out


def document_validation_as_400(app: FastAPI) -> None:
    """FastAPI documents request validation errors as 422 with its own body; we answer 400 with
    a problem body (`_on_validation`), so the OpenAPI document says that instead."""
    build = app.openapi

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is not None:
            return app.openapi_schema
        doc = build()
        for item in doc.get("paths", {}).values():
            for op in item.values():
                answers = op.get("responses", {})
                if answers.pop("422", None) is not None and "400" not in answers:
                    answers["400"] = {
                        "description": f"{CODES['invalid_argument'][1]} (`invalid_argument`)",
                        "content": {
                            PROBLEM_MEDIA_TYPE: {"schema": {"$ref": "#/components/schemas/ProblemModel"}}
                        },
                    }
        schemas = doc.get("components", {}).get("schemas", {})
        for unused in ("HTTPValidationError", "ValidationError"):
            schemas.pop(unused, None)
        if "ProblemModel" not in schemas:
            schemas["ProblemModel"] = ProblemModel.model_json_schema()
        app.openapi_schema = doc
        return doc

    app.openapi = openapi  # type: ignore[method-assign]


async def _on_problem(_request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, Problem)
    response = problem_response(exc.code, exc.detail, **exc.extra)
    response.headers.update(exc.headers)
    return response


async def _on_validation(_request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, RequestValidationError)
    # 400 rather than FastAPI's 422: a malformed request is a client error like any other, and
    # clients need one status to switch on. `errors` keeps the per-field details.
    errors = [
        {"loc": list(e.get("loc", ())), "msg": e.get("msg", ""), "type": e.get("type", "")}
        for e in exc.errors()
    ]
    where = ", ".join(".".join(str(p) for p in e["loc"]) for e in errors[:5])
    return problem_response("invalid_argument", f"invalid request: {where}", errors=errors)


async def _on_model_validation(_request: Request, exc: Exception) -> JSONResponse:
    # A message built from the request broke a rule of the schema library (limits.py) that the
    # request model did not spell out itself: still the client's input, so a 400, never a 500.
    assert isinstance(exc, ValidationError)
    errors = [
        {"loc": list(e.get("loc", ())), "msg": e.get("msg", ""), "type": e.get("type", "")}
        for e in exc.errors()
    ]
    where = "; ".join(f"{'.'.join(str(p) for p in e['loc'])}: {e['msg']}" for e in errors[:5])
    return problem_response("invalid_argument", f"invalid request: {where}", errors=errors)


async def _on_http(_request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, StarletteHTTPException)
    code = {
        400: "invalid_argument",
        404: "not_found",
        405: "method_not_allowed",
        413: "payload_too_large",
        503: "unavailable",
    }.get(exc.status_code, "internal")
    return problem_response(code, str(exc.detail))


async def _on_unavailable(_request: Request, exc: Exception) -> JSONResponse:
    # The broker or database is unreachable: a retryable condition, not a bug.
    log.warning("dependency unavailable: %s: %s", type(exc).__name__, exc)
    detail = f"a backend dependency is unavailable ({type(exc).__name__}); retry"
    return problem_response("unavailable", detail)


async def _on_database_error(_request: Request, exc: Exception) -> JSONResponse:
    # Handled here rather than by the catch-all below, which Starlette re-raises after answering
    # (uvicorn then logs every restart-induced failure as a crash of the application).
    return _unexpected(exc)


async def _on_unexpected(_request: Request, exc: Exception) -> JSONResponse:
    return _unexpected(exc)


def _unexpected(exc: Exception) -> JSONResponse:
    if is_transient(exc):
        # The infrastructure's failure, not a bug: e.g. SQLAlchemy's generic DBAPIError for a
        # pooled connection a database restart closed ("connection was closed in the middle of
        # operation"; no pre-ping, so the first statement finds out), or asyncpg's own errors
        # from the raw paths. tidal_server.faults makes the same call for every consumer.
        log.warning("dependency unavailable: %s", describe(exc))
        detail = f"a backend dependency is unavailable ({type(exc).__name__}); retry"
        return problem_response("unavailable", detail)
    log.exception("unhandled error", exc_info=exc)
    return problem_response("internal", "internal error; see the frontend's logs")


def install(app: FastAPI) -> None:
    app.add_exception_handler(Problem, _on_problem)
    app.add_exception_handler(RequestValidationError, _on_validation)
    app.add_exception_handler(ValidationError, _on_model_validation)
    app.add_exception_handler(StarletteHTTPException, _on_http)
    for exc_type in (BusError, OperationalError, InterfaceError, ConnectionError, TimeoutError):
        app.add_exception_handler(exc_type, _on_unavailable)
    for db_error in (SQLAlchemyError, asyncpg.PostgresError, asyncpg.InterfaceError, sqlite3.Error):
        app.add_exception_handler(db_error, _on_database_error)
    app.add_exception_handler(Exception, _on_unexpected)


_BODY_DEADLINE = "tidal.body_deadline"


def body_deadline(scope: Scope, seconds: float) -> float:
    """The loop time by which the request's body must be in: fixed the first time it is asked for,
    so the fast path's reading and the app's, after a fall-through, share one deadline."""
    deadline: float = scope.setdefault(_BODY_DEADLINE, asyncio.get_running_loop().time() + seconds)
    return deadline


def body_too_slow(seconds: float) -> JSONResponse:
    """408 for a body that did not arrive in time, closing the connection (uvicorn has no read
    timeout of its own: a slow-loris client would otherwise hold it for as long as it liked)."""
    response = problem_response("request_timeout", f"the request body did not arrive within {seconds:g} s")
    response.headers["Connection"] = "close"
    return response


class BodyLimit:
    """ASGI middleware answering 413 for bodies over `max_bytes`, declared or streamed, and 400
    for input no endpoint could handle: a path or query string with NUL (the store cannot keep
    it, so any lookup would fail), a body nested deeper than `MAX_DOCUMENT_DEPTH` (decided on the
    bytes, before a recursive JSON parser can hit its recursion limit).

    The body is buffered here (FastAPI buffers it anyway) so an oversize chunked upload is
    refused before any endpoint runs; the limit is small enough (MiBs) for that to be cheap.
    """

    def __init__(self, app: Any, max_bytes: int, body_seconds: float = 30.0) -> None:
        self.app = app
        self.max_bytes = max_bytes
        self.body_seconds = body_seconds

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        unsafe = _unsafe_target(scope)
        if unsafe is not None:
            await problem_response("invalid_argument", unsafe)(scope, receive, send)
            return
        declared = dict(scope.get("headers") or []).get(b"content-length")
        if declared is not None and declared.isdigit() and int(declared) > self.max_bytes:
            await self._refuse(scope, receive, send)
            return
        chunks: list[bytes] = []
        size = 0
        more = True
        deadline = body_deadline(scope, self.body_seconds)
        while more:
            try:
                async with asyncio.timeout_at(deadline):
                    message = await receive()
            except TimeoutError:
                await body_too_slow(self.body_seconds)(scope, receive, send)
                return
            if message["type"] == "http.disconnect":
                return
            chunk = message.get("body", b"")
            size += len(chunk)
            if size > self.max_bytes:
                await self._refuse(scope, receive, send)
                return
            chunks.append(chunk)
            more = message.get("more_body", False)
        body = b"".join(chunks)
        if document_depth_exceeds(body, MAX_DOCUMENT_DEPTH):
            detail = f"the JSON body nests deeper than {MAX_DOCUMENT_DEPTH} levels"
            await problem_response("invalid_argument", detail)(scope, receive, send)
            return
        replayed = False

        async def replay() -> Any:
            nonlocal replayed
            if not replayed:
                replayed = True
                return {"type": "http.request", "body": body, "more_body": False}
            # After the body: pass through, so long polls still see the client disconnect.
            return await receive()

        await self.app(scope, replay, send)

    async def _refuse(self, scope: Scope, receive: Receive, send: Send) -> None:
        response = problem_response("payload_too_large", f"request body exceeds {self.max_bytes} bytes")
        await response(scope, receive, send)


def _unsafe_target(scope: Scope) -> str | None:
    return unsafe_target(scope.get("path", ""), scope.get("query_string", b""))


def unsafe_target(path: str, query: bytes) -> str | None:
    """Why a request's (decoded) path or query string cannot name anything, or None."""
    if "\x00" in path:
        return "the path contains NUL (%00), which no name or id may hold"
    if b"%00" in query or b"\x00" in query:
        return "the query string contains NUL (%00), which no name or id may hold"
    return None
