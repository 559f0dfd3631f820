"""Repository-wide pytest fixtures: real RabbitMQ and Postgres.

Lives at the repository root (not in tests/) so unit tests under libs/ and
services/ get the same fixtures. Servers start lazily, the first time a test asks
for one, and stop at the end of the session; a test run that needs neither
starts nothing. See tests/support/servers.py for where the servers come from.
"""

from __future__ import annotations

import sys
import uuid
import warnings
from collections.abc import Iterator
from pathlib import Path

import pytest

# --import-mode=importlib leaves sys.path alone, so `tests.support` would not be
# importable from test modules (or from this file) without this.
_ROOT = str(Path(__file__).resolve().parent)
if _ROOT not in sys.path:
    sys.path.insert(0, _ROOT)

from tests.support._common import _run_async  # noqa: E402
from tests.support.servers import (  # noqa: E402
    Postgres,
    RabbitMQ,
    start_postgres,
    start_rabbitmq,
)

# Vhosts of finished tests, deleted a batch at a time: every rabbitmqctl call boots an Erlang VM
# (1-2 s of CPU on 2 cores, more under load), and each test with a fresh vhost used to pay one.
_VHOST_BATCH = 8
_spent_vhosts: list[str] = []


@pytest.fixture(scope="session")
def rabbitmq() -> Iterator[RabbitMQ]:
    """The session's RabbitMQ broker (object with ``.url``, ``.mode``, ``.add_vhost()``...)."""
    server = start_rabbitmq()
    try:
        yield server
    finally:
        _spent_vhosts.clear()  # they go with the server
        server.stop()


@pytest.fixture(scope="session")
def postgres() -> Iterator[Postgres]:
    """The session's Postgres server (object with ``.url``, ``.dsn``, ``.mode``)."""
    server = start_postgres()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture(scope="session")
def amqp_url(rabbitmq: RabbitMQ) -> str:
    """``amqp://user:pw@host:port`` for the default vhost, shared by the whole session."""
    return rabbitmq.url


@pytest.fixture(scope="session")
def database_url(postgres: Postgres) -> str:
    """``postgresql+asyncpg://user:pw@host:port/db``, shared by the whole session."""
    return postgres.url


@pytest.fixture
def fresh_database_url(postgres: Postgres) -> Iterator[str]:
    """URL (SQLAlchemy asyncpg form) of a new, empty database, dropped after the test.

    Deliberately synchronous (asyncpg runs on a private loop in a thread) so it can
    be requested from sync fixtures and tests, including via getfixturevalue().
    """
    name = f"tidal_test_{uuid.uuid4().hex[:12]}"
    url = postgres.create_database(name)
    try:
        yield url
    finally:
        postgres.drop_database(name)


@pytest.fixture(scope="session")
def _migrated_template(postgres: Postgres) -> Iterator[str]:
    """A database migrated once per session, copied by `migrated_database_url`."""
    from tidal_server.db import migrate

    name = f"tidal_template_{uuid.uuid4().hex[:12]}"
    url = postgres.create_database(name)
    try:
        _run_async(migrate(url))
        yield name
    finally:
        postgres.drop_database(name)


@pytest.fixture
def migrated_database_url(postgres: Postgres, _migrated_template: str) -> Iterator[str]:
    """Like `fresh_database_url`, but already at the latest schema: a copy of a template migrated
    once per session (CREATE DATABASE ... TEMPLATE takes ~0.1 s; `tidal-server migrate` in a
    subprocess 2-5 s, paid by every stack a test starts)."""
    name = f"tidal_test_{uuid.uuid4().hex[:12]}"
    url = postgres.create_database(name, template=_migrated_template)
    try:
        yield url
    finally:
        postgres.drop_database(name)


@pytest.fixture
def fresh_vhost_amqp_url(rabbitmq: RabbitMQ) -> Iterator[str]:
    """URL of a new, empty RabbitMQ vhost, deleted after the test (with the next batch of 8).

    With an external broker (``TIDAL_TEST_AMQP_URL``) we cannot create vhosts, so
    this falls back to the shared URL and warns: such tests must then name their
    queues and exchanges uniquely to stay isolated.
    """
    if not rabbitmq.can_manage_vhosts:
        warnings.warn(
            f"fresh_vhost_amqp_url: cannot create vhosts on an {rabbitmq.mode} broker; "
            "using the shared vhost",
            stacklevel=2,
        )
        yield rabbitmq.url
        return
    vhost = f"tidal-test-{uuid.uuid4().hex[:12]}"
    url = rabbitmq.add_vhost(vhost)
    try:
        yield url
    finally:
        _spent_vhosts.append(vhost)
        if len(_spent_vhosts) >= _VHOST_BATCH:
            batch = _spent_vhosts[:]
            _spent_vhosts.clear()
            rabbitmq.delete_vhosts(batch)
