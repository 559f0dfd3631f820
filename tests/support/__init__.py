"""Test support shared by pytest fixtures, bench scripts and ad-hoc runs.

Names are resolved lazily so that ``python -m tests.support.servers`` does not
import the module twice (runpy warns when the package pre-imports it).
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from tests.support.servers import (
        Postgres,
        RabbitMQ,
        Servers,
        ServerUnavailableError,
        asyncpg_dsn,
        docker_available,
        running_servers,
        start_postgres,
        start_private_postgres,
        start_private_rabbitmq,
        start_rabbitmq,
        start_servers,
        with_database,
        with_vhost,
    )

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


def __getattr__(name: str) -> Any:
    if name in __all__:
        return getattr(importlib.import_module("tests.support.servers"), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
