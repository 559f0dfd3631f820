"""Fixtures shared by the end-to-end tests on the real stack (each service its own process)."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator

import pytest

from tests.support.stack import SERVICES, Stack


@pytest.fixture
def stack(fresh_vhost_amqp_url: str, fresh_database_url: str) -> Iterator[Stack]:
    """A migrated database and a private vhost; no service started yet."""
    s = Stack(amqp_url=fresh_vhost_amqp_url, database_url=fresh_database_url)
    s.migrate()
    try:
        yield s
    finally:
        s.stop_all()


@pytest.fixture
async def running(stack: Stack) -> AsyncIterator[Stack]:
    """All four services started and the frontend answering /readyz."""
    for name in SERVICES:
        stack.start(name)
    await stack.wait_ready()
    yield stack
