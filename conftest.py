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

from tests.support.servers import (  # noqa: E402
    Postgres,
    RabbitMQ,
    start_postgres,
    start_rabbitmq,
)


@pytest.fixture(scope="session")
def rabbitmq() -> Iterator[RabbitMQ]:
    """The session's RabbitMQ broker (object with ``.url``, ``.mode``, ``.add_vhost()``...)."""
    server = start_rabbitmq()
    try:
        yield server
    finally:
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


@pytest.fixture
def fresh_vhost_amqp_url(rabbitmq: RabbitMQ) -> Iterator[str]:
    """URL of a new, empty RabbitMQ vhost, deleted after the test.

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
        rabbitmq.delete_vhost(vhost)
