"""Tidal's tables, declared once for Postgres and SQLite (the embedded mode).

History is the only writer. Services mostly use SQLAlchemy Core on the `sa.Table` objects
exported at the bottom (``executions``, ``history_events``...): Core statements skip the ORM's
unit of work, which matters on the hot path. The SQLModel classes document the row shapes and
serve the few places where an ORM object is handier (admin, tests).

Every column is declared with an explicit ``sa_column`` so the DDL is exactly what the
migration in ``migrations/versions`` creates; a test compares the two.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlmodel import Field, SQLModel

from .types import BigIntPK, JSONType, UTCDateTime

metadata = SQLModel.metadata


def _text(*, pk: bool = False, nullable: bool = False) -> Any:
    return Field(sa_column=sa.Column(sa.Text, primary_key=pk, nullable=nullable and not pk))


def _int(*, pk: bool = False, big: bool = False, nullable: bool = False) -> Any:
    kind = sa.BigInteger if big else sa.Integer
    # autoincrement=False: an integer that is part of a key is a value we choose, not a sequence.
    return Field(sa_column=sa.Column(kind, primary_key=pk, nullable=nullable and not pk, autoincrement=False))


def _time(*, nullable: bool = False, now: bool = False) -> Any:
    return Field(
        sa_column=sa.Column(
            UTCDateTime(), nullable=nullable, server_default=sa.func.current_timestamp() if now else None
        )
    )


def _json(*, nullable: bool = False, empty_default: bool = False) -> Any:
    # Python-side default only: a JSON server default is spelled differently per dialect.
    default: Callable[[], dict[str, Any]] | None = (lambda: {}) if empty_default else None
    return Field(sa_column=sa.Column(JSONType, nullable=nullable, default=default))


class Namespace(SQLModel, table=True):
    __tablename__ = "namespaces"

    name: str = _text(pk=True)
    retention_days: int = Field(
        sa_column=sa.Column(sa.Integer, nullable=False, default=30, server_default=sa.text("30"))
    )
    created_at: datetime = _time(now=True)
    # Added by migration 0003 (namespaces API): Temporal deprecates rather than deletes.
    description: str = Field(
        default="", sa_column=sa.Column(sa.Text, nullable=False, default="", server_default="")
    )
    state: str = Field(
        default="registered",
        sa_column=sa.Column(sa.Text, nullable=False, default="registered", server_default="registered"),
    )


class Shard(SQLModel, table=True):
    """One row per history shard; `range_id` is the fencing token a new owner increments, and
    every history write checks it so a stale owner can never commit."""

    __tablename__ = "shards"

    shard_id: int = _int(pk=True)
    range_id: int = _int(big=True)
    owner: str | None = _text(nullable=True)
    updated_at: datetime = _time(now=True)


class Member(SQLModel, table=True):
    """Live members per service, for spreading shards evenly and rebalancing on join/leave."""

    __tablename__ = "members"
    __table_args__ = (sa.Index("ix_members_service_heartbeat", "service", "heartbeat_at"),)

    member_id: str = _text(pk=True)
    service: str = _text()
    heartbeat_at: datetime = _time(now=True)
    started_at: datetime = _time(now=True)


class Execution(SQLModel, table=True):
    """One row per run. `state` is the mutable-state document; `version` guards concurrent
    writes (optimistic check on update); `next_event_id` is the id the next event will get."""

    __tablename__ = "executions"
    __table_args__ = (
        sa.Index("ix_executions_ns_status_start", "namespace", "status", "start_time"),
        sa.Index("ix_executions_ns_type_start", "namespace", "workflow_type", "start_time"),
        sa.Index("ix_executions_ns_close", "namespace", "close_time"),
    )

    namespace: str = _text(pk=True)
    workflow_id: str = _text(pk=True)
    run_id: str = _text(pk=True)
    shard_id: int = _int()
    workflow_type: str = _text()
    task_queue: str = _text()
    status: str = _text()
    start_time: datetime = _time()
    close_time: datetime | None = _time(nullable=True)
    next_event_id: int = _int(big=True)
    version: int = _int(big=True)
    state: dict[str, Any] = _json(empty_default=True)
    memo: dict[str, Any] = _json(empty_default=True)
    search_attributes: dict[str, Any] = _json(empty_default=True)
    result: Any = _json(nullable=True)


class CurrentExecution(SQLModel, table=True):
    """The run a workflow id currently points at (id-reuse and conflict policies read it)."""

    __tablename__ = "current_executions"

    namespace: str = _text(pk=True)
    workflow_id: str = _text(pk=True)
    run_id: str = _text()
    status: str = _text()
    start_request_id: str = _text()
    shard_id: int = _int()


class HistoryEventRow(SQLModel, table=True):
    """Append-only; `data` is the whole serialized `tidal_schema.HistoryEvent`."""

    __tablename__ = "history_events"

    namespace: str = _text(pk=True)
    workflow_id: str = _text(pk=True)
    run_id: str = _text(pk=True)
    event_id: int = _int(pk=True, big=True)
    event_type: str = _text()
    event_time: datetime = _time()
    data: dict[str, Any] = _json()


class Timer(SQLModel, table=True):
    """Durable timers; the timer service recovers and loads windows from here (read-only)."""

    __tablename__ = "timers"
    __table_args__ = (sa.Index("ix_timers_shard_fire_at", "shard_id", "fire_at"),)

    shard_id: int = _int(pk=True)
    key: str = _text(pk=True)
    fire_at: datetime = _time()
    body: dict[str, Any] = _json()


class OutboxRow(SQLModel, table=True):
    """Messages committed with the state change that caused them, published after commit and
    deleted once confirmed. (shard_id, seq) is the relay's scan order."""

    __tablename__ = "outbox"
    # AUTOINCREMENT on SQLite: without it a deleted (already published) max seq would be reused.
    __table_args__ = (sa.Index("ix_outbox_shard_seq", "shard_id", "seq"), {"sqlite_autoincrement": True})

    seq: int | None = Field(default=None, sa_column=sa.Column(BigIntPK, primary_key=True, autoincrement=True))
    shard_id: int = _int()
    exchange: str = _text()
    routing_key: str = _text()
    body: bytes = Field(sa_column=sa.Column(sa.LargeBinary, nullable=False))
    headers: dict[str, Any] = _json(empty_default=True)
    created_at: datetime = _time(now=True)


class Schedule(SQLModel, table=True):
    """Schedules (docs/schedules.md): history-owned entities on the shard of (namespace,
    schedule_id), ticked by the timer service. `document` is a `ScheduleDocument`
    (tidal_schema.schedule_document), which the frontend reads too; `version` is checked on every
    write. `paused` and `next_action_at` are copies kept for listing. Migration 0004 replaced the
    placeholder of 0001."""

    __tablename__ = "schedules"
    __table_args__ = (sa.Index("ix_schedules_shard", "shard_id"),)

    namespace: str = _text(pk=True)
    schedule_id: str = _text(pk=True)
    shard_id: int = _int()
    version: int = _int()
    paused: bool = Field(sa_column=sa.Column(sa.Boolean, nullable=False))
    next_action_at: datetime | None = _time(nullable=True)
    document: dict[str, Any] = _json()
    created_at: datetime = _time()
    updated_at: datetime = _time()


# --- visibility (list / count workflows; see docs/visibility.md) -----------------------------


class SearchAttributeDef(SQLModel, table=True):
    """A custom search attribute's type in one namespace (Keyword, Text, Int, Double, Bool,
    Datetime). History registers a name on first use, inferring the type from the value, unless
    an operator registered it first; the frontend reads it to type-check list queries."""

    __tablename__ = "search_attribute_defs"

    namespace: str = _text(pk=True)
    name: str = _text(pk=True)
    type: str = _text()


class SearchAttributeValue(SQLModel, table=True):
    """One typed custom search attribute value of one run, in the column its type uses (Bool as
    0/1 in `int_value`), so every type but Text gets a B-tree index for =, ranges and prefixes
    (Text, matched as a substring and possibly long, sits unindexed in `text_value`). History
    writes it in the transaction that changes the attribute; `executions.search_attributes`
    keeps the whole JSON document for display."""

    __tablename__ = "search_attribute_values"
    __table_args__ = (
        sa.Index("ix_sav_ns_name_str", "namespace", "name", "str_value"),
        sa.Index("ix_sav_ns_name_int", "namespace", "name", "int_value"),
        sa.Index("ix_sav_ns_name_double", "namespace", "name", "double_value"),
        sa.Index("ix_sav_ns_name_time", "namespace", "name", "time_value"),
    )

    namespace: str = _text(pk=True)
    workflow_id: str = _text(pk=True)
    run_id: str = _text(pk=True)
    name: str = _text(pk=True)
    str_value: str | None = _text(nullable=True)
    text_value: str | None = _text(nullable=True)
    int_value: int | None = _int(big=True, nullable=True)
    double_value: float | None = Field(default=None, sa_column=sa.Column(sa.Double, nullable=True))
    time_value: datetime | None = _time(nullable=True)


# --------------------------------------------------------------------------- API keys (0003)


class ApiKey(SQLModel, table=True):
    """An HTTP API key. Only the sha256 of the key is stored; `key_id` is the short lookup
    prefix embedded in the key itself (`tidal_<key_id>_<secret>`). `namespace` is a namespace
    name or "*" (every namespace); `role` is reader, writer or admin. Cluster metadata written by
    the frontend or `tidal-server api-key`, not by history."""

    __tablename__ = "api_keys"

    key_id: str = _text(pk=True)
    key_hash: str = _text()
    namespace: str = _text()
    role: str = _text()
    description: str = Field(
        default="", sa_column=sa.Column(sa.Text, nullable=False, default="", server_default="")
    )
    created_at: datetime = _time(now=True)


# ---------------------------------------------------------------------------


def _table(model: type[SQLModel]) -> sa.Table:
    table = model.__table__  # type: ignore[attr-defined]
    assert isinstance(table, sa.Table)
    return table


# The Core handles services use.
namespaces = _table(Namespace)
shards = _table(Shard)
members = _table(Member)
executions = _table(Execution)
current_executions = _table(CurrentExecution)
history_events = _table(HistoryEventRow)
timers = _table(Timer)
outbox = _table(OutboxRow)
schedules = _table(Schedule)
search_attribute_defs = _table(SearchAttributeDef)
search_attribute_values = _table(SearchAttributeValue)

# Visibility indexes on `executions` (migration 0002): the default order (newest first, keyset
# on start_time + run_id) and the task-queue filter. Declared here, apart from the class, so the
# 0001 shape of the class stays recognisable.
sa.Index("ix_executions_ns_start_run", executions.c.namespace, executions.c.start_time, executions.c.run_id)
sa.Index(
    "ix_executions_ns_tq_start", executions.c.namespace, executions.c.task_queue, executions.c.start_time
)

api_keys = _table(ApiKey)

DEFAULT_NAMESPACE = "default"
