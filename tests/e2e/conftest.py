"""Fixtures shared by the end-to-end tests on the real stack (each service its own process).

`running` is a private stack per test (fresh vhost and database), unless the test's module says
`pytestmark = pytest.mark.shared_stack`: then it is one stack shared by every such test of
tests/e2e. A stack start costs 5-10 s on 2 cores and most stack tests only run workflows under
their own ids and task queues, so sharing is what keeps CI bounded. Tests that kill or restart
services, change their settings, or look at cluster-wide state (dead letters, every run, shard
owners) keep a private one; see docs/testing.md.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator

import pytest

from tests.support._common import _run_async
from tests.support.servers import Postgres, RabbitMQ
from tests.support.stack import Stack


class _SharedStack:
    """One stack for the package, started on first use and started afresh if a process of it
    died (so one test's crash shows as its own failure, not as every later test's)."""

    def __init__(self, rabbitmq: RabbitMQ, postgres: Postgres, template: str) -> None:
        self._rabbitmq = rabbitmq
        self._postgres = postgres
        self._template = template
        self._stack: Stack | None = None
        self._resources: tuple[str, str] | None = None

    def get(self) -> Stack:
        if self._stack is not None and all(p.poll() is None for p in self._stack.procs.values()):
            return self._stack
        self.close()
        vhost = f"tidal-shared-{uuid.uuid4().hex[:12]}"
        database = f"tidal_shared_{uuid.uuid4().hex[:12]}"
        amqp_url = self._rabbitmq.add_vhost(vhost) if self._rabbitmq.can_manage_vhosts else self._rabbitmq.url
        self._resources = (vhost if self._rabbitmq.can_manage_vhosts else "", database)
        self._stack = Stack(
            amqp_url=amqp_url,
            database_url=self._postgres.create_database(database, template=self._template),
        )
        self._stack.start_services()
        _run_async(self._stack.wait_ready(timeout=180))  # it serves many tests: be patient under load
        return self._stack

    def close(self) -> None:
        if self._stack is not None:
            self._stack.stop_all()
            self._stack = None
        if self._resources is not None:
            vhost, database = self._resources
            self._resources = None
            if vhost:
                self._rabbitmq.delete_vhost(vhost)
            self._postgres.drop_database(database)


@pytest.fixture(scope="package")
def _shared_stack(rabbitmq: RabbitMQ, postgres: Postgres, _migrated_template: str) -> Iterator[_SharedStack]:
    shared = _SharedStack(rabbitmq, postgres, _migrated_template)
    try:
        yield shared
    finally:
        shared.close()


@pytest.fixture
def stack(fresh_vhost_amqp_url: str, migrated_database_url: str) -> Iterator[Stack]:
    """A migrated database and a private vhost; no service started yet."""
    s = Stack(amqp_url=fresh_vhost_amqp_url, database_url=migrated_database_url)
    try:
        yield s
    finally:
        s.stop_all()


@pytest.fixture
def running(request: pytest.FixtureRequest) -> Stack:
    """All four services started and the frontend answering /readyz: the package's shared stack
    for tests marked `shared_stack`, otherwise the test's own (`stack`)."""
    if request.node.get_closest_marker("shared_stack") is not None:
        shared: _SharedStack = request.getfixturevalue("_shared_stack")
        return shared.get()
    private: Stack = request.getfixturevalue("stack")
    private.start_services()
    # On a private loop in a thread: the fixture is synchronous so that it can choose its stack.
    _run_async(private.wait_ready())
    return private
