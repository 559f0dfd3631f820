"""Real RabbitMQ and Postgres servers for tests, benchmarks and local runs.

Resolution order for each server (independently):

1. an explicit URL in ``TIDAL_TEST_AMQP_URL`` / ``TIDAL_TEST_DATABASE_URL``;
2. a testcontainers container, when a Docker engine answers;
3. a private, throwaway server built from the local Debian binaries
   (``apt-get install -y rabbitmq-server postgresql``).

Private servers bind to 127.0.0.1 on free ports and keep all their state in a
temporary directory, so several test sessions (or engineers) can run side by
side without touching the system services.

Run ``python -m tests.support.servers`` to start both and print their URLs
(handy for benchmarks or poking at things by hand); Ctrl-C stops them.
"""

from __future__ import annotations

import contextlib
import logging
import signal
import sys
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass

from ._common import (
    AMQP_URL_ENV,
    DATABASE_URL_ENV,
    ServerUnavailableError,
    asyncpg_dsn,
    docker_available,
    with_database,
    with_vhost,
)
from .postgres import Postgres, start_postgres, start_private_postgres
from .rabbitmq import RabbitMQ, start_private_rabbitmq, start_rabbitmq

__all__ = [
    "Postgres",
    "RabbitMQ",
    "ServerUnavailableError",
    "Servers",
    "asyncpg_dsn",
    "docker_available",
    "running_servers",
    "start_postgres",
    "start_private_postgres",
    "start_private_rabbitmq",
    "start_rabbitmq",
    "start_servers",
    "with_database",
    "with_vhost",
]

log = logging.getLogger("tidal.tests.servers")


# --------------------------------------------------------------------------- both


@dataclass
class Servers:
    rabbitmq: RabbitMQ
    postgres: Postgres

    @property
    def amqp_url(self) -> str:
        return self.rabbitmq.url

    @property
    def database_url(self) -> str:
        return self.postgres.url

    def stop(self) -> None:
        self.rabbitmq.stop()
        self.postgres.stop()

    def __enter__(self) -> Servers:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()


def start_servers() -> Servers:
    """Start RabbitMQ and Postgres (in parallel: RabbitMQ dominates start-up time)."""
    pg_result: list[Postgres] = []
    pg_error: list[BaseException] = []

    def _pg() -> None:
        try:
            pg_result.append(start_postgres())
        except BaseException as exc:
            pg_error.append(exc)

    thread = threading.Thread(target=_pg, name="start-postgres", daemon=True)
    thread.start()
    try:
        rabbit = start_rabbitmq()
    except BaseException:
        thread.join()
        for pg in pg_result:
            pg.stop()
        raise
    thread.join()
    if pg_error:
        rabbit.stop()
        raise pg_error[0]
    return Servers(rabbitmq=rabbit, postgres=pg_result[0])


@contextlib.contextmanager
def running_servers() -> Iterator[Servers]:
    servers = start_servers()
    try:
        yield servers
    finally:
        servers.stop()


def main() -> int:
    logging.basicConfig(level=logging.INFO)
    started = time.monotonic()
    with running_servers() as servers:
        print(f"export {AMQP_URL_ENV}='{servers.amqp_url}'", flush=True)
        print(f"export {DATABASE_URL_ENV}='{servers.database_url}'", flush=True)
        print(
            f"# rabbitmq: {servers.rabbitmq.mode}, postgres: {servers.postgres.mode}, "
            f"started in {time.monotonic() - started:.1f}s; Ctrl-C to stop",
            file=sys.stderr,
            flush=True,
        )
        stop = threading.Event()
        for sig in (signal.SIGINT, signal.SIGTERM):
            signal.signal(sig, lambda *_: stop.set())
        while not stop.wait(1.0):
            pass
    return 0


if __name__ == "__main__":
    sys.exit(main())
