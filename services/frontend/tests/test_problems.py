"""How failures of the frontend's dependencies reach a client: a retryable 503 with Retry-After.

The first test failed before the fix: SQLAlchemy's generic `DBAPIError` (what a pooled connection
that a Postgres restart closed raises on its first statement) and asyncpg's own connection
errors fell through to the catch-all and answered 500 `internal`, which no client retries.
tests/e2e/test_dependency_outage.py shows the same on the real stack with a crashed Postgres.
"""

from __future__ import annotations

import sqlite3

import asyncpg
import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy.exc import DBAPIError
from tidal_frontend.problems import RETRY_AFTER_SECONDS, Problem, install


class _ClosedInTheMiddle(Exception):
    """Stands in for the driver error SQLAlchemy wraps (its `orig`)."""


def _app(exc: BaseException) -> FastAPI:
    app = FastAPI()
    install(app)

    @app.get("/boom")
    async def boom() -> None:
        raise exc

    return app


async def _get(exc: BaseException) -> httpx.Response:
    transport = httpx.ASGITransport(app=_app(exc), raise_app_exceptions=False)
    async with httpx.AsyncClient(transport=transport, base_url="http://frontend") as http:
        return await http.get("/boom")


@pytest.mark.parametrize(
    "exc",
    [
        DBAPIError("SELECT 1", {}, _ClosedInTheMiddle("connection was closed in the middle of operation")),
        asyncpg.ConnectionDoesNotExistError("connection was closed in the middle of operation"),
        asyncpg.exceptions.AdminShutdownError("terminating connection due to administrator command"),
        asyncpg.exceptions.CannotConnectNowError("the database system is starting up"),
        sqlite3.OperationalError("database is locked"),
        ConnectionRefusedError(111, "Connection refused"),
        Problem("unavailable", "history did not answer in 10s"),
    ],
    ids=lambda e: type(e).__name__,
)
async def test_a_dependency_failure_is_a_503_problem_with_retry_after(exc: BaseException) -> None:
    resp = await _get(exc)
    assert resp.status_code == 503, resp.text
    assert resp.headers["content-type"] == "application/problem+json"
    assert resp.headers["retry-after"] == str(RETRY_AFTER_SECONDS)
    assert resp.json()["code"] == "unavailable"


@pytest.mark.parametrize(
    "exc",
    [
        ValueError("a bug of ours"),
        # SQLSTATE 22: the data's fault, not the database's; a retry would fail the same way.
        asyncpg.exceptions.UntranslatableCharacterError("unsupported Unicode escape sequence"),
    ],
    ids=lambda e: type(e).__name__,
)
async def test_a_bug_stays_a_500_without_retry_after(exc: BaseException) -> None:
    resp = await _get(exc)
    assert resp.status_code == 500, resp.text
    assert "retry-after" not in resp.headers
    assert resp.json()["code"] == "internal"
