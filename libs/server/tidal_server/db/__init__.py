"""Tidal's database layer: tables, engines, migrations.

Use the Core tables (``from tidal_server.db import executions``) for statements, and
`create_engine` for an `AsyncEngine` on Postgres or SQLite.
"""

from .engine import DatabaseUnavailableError, create_engine, is_sqlite, redact
from .migrate import SchemaNotMigratedError, check_schema, check_schema_engine, migrate, migrate_engine
from .tables import (
    DEFAULT_NAMESPACE,
    ApiKey,
    CurrentExecution,
    Execution,
    HistoryEventRow,
    Member,
    Namespace,
    OutboxRow,
    Schedule,
    Shard,
    Timer,
    api_keys,
    current_executions,
    executions,
    history_events,
    members,
    metadata,
    namespaces,
    outbox,
    schedules,
    search_attribute_defs,
    search_attribute_values,
    shards,
    timers,
)
from .types import JSONType, UTCDateTime

__all__ = [
    "DEFAULT_NAMESPACE",
    "ApiKey",
    "CurrentExecution",
    "DatabaseUnavailableError",
    "Execution",
    "HistoryEventRow",
    "JSONType",
    "Member",
    "Namespace",
    "OutboxRow",
    "Schedule",
    "SchemaNotMigratedError",
    "Shard",
    "Timer",
    "UTCDateTime",
    "api_keys",
    "check_schema",
    "check_schema_engine",
    "create_engine",
    "current_executions",
    "executions",
    "history_events",
    "is_sqlite",
    "members",
    "metadata",
    "migrate",
    "migrate_engine",
    "namespaces",
    "outbox",
    "redact",
    "schedules",
    "search_attribute_defs",
    "search_attribute_values",
    "shards",
    "timers",
]
