"""Initial schema: namespaces, shards, members, executions, current_executions, history_events,
timers, outbox, schedules; plus the `default` namespace.

Written by hand to match tidal_server/db/tables.py; tests/test_db_migrations.py checks that
autogenerate finds no difference on Postgres and SQLite. Types are spelled out here (not imported
from tables.py) so this revision stays fixed when the models change later.

Revision ID: 0001
Revises:
Create Date: 2026-01-01
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0001"
down_revision: str | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def _json() -> sa.types.TypeEngine[Any]:
    return sa.JSON().with_variant(postgresql.JSONB(), "postgresql")


def _ts(name: str, *, nullable: bool = False, now: bool = False) -> sa.Column[object]:
    default = sa.func.current_timestamp() if now else None
    return sa.Column(name, sa.DateTime(timezone=True), nullable=nullable, server_default=default)


def _text(name: str, *, nullable: bool = False) -> sa.Column[object]:
    return sa.Column(name, sa.Text(), nullable=nullable)


def upgrade() -> None:
    namespaces = op.create_table(
        "namespaces",
        _text("name"),
        sa.Column("retention_days", sa.Integer(), nullable=False, server_default=sa.text("30")),
        _ts("created_at", now=True),
        sa.PrimaryKeyConstraint("name"),
    )
    op.create_table(
        "shards",
        sa.Column("shard_id", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("range_id", sa.BigInteger(), nullable=False),
        _text("owner", nullable=True),
        _ts("updated_at", now=True),
        sa.PrimaryKeyConstraint("shard_id"),
    )
    op.create_table(
        "members",
        _text("member_id"),
        _text("service"),
        _ts("heartbeat_at", now=True),
        _ts("started_at", now=True),
        sa.PrimaryKeyConstraint("member_id"),
    )
    op.create_index("ix_members_service_heartbeat", "members", ["service", "heartbeat_at"])
    op.create_table(
        "executions",
        _text("namespace"),
        _text("workflow_id"),
        _text("run_id"),
        sa.Column("shard_id", sa.Integer(), nullable=False),
        _text("workflow_type"),
        _text("task_queue"),
        _text("status"),
        _ts("start_time"),
        _ts("close_time", nullable=True),
        sa.Column("next_event_id", sa.BigInteger(), nullable=False),
        sa.Column("version", sa.BigInteger(), nullable=False),
        sa.Column("state", _json(), nullable=False),
        sa.Column("memo", _json(), nullable=False),
        sa.Column("search_attributes", _json(), nullable=False),
        sa.Column("result", _json(), nullable=True),
        sa.PrimaryKeyConstraint("namespace", "workflow_id", "run_id"),
    )
    op.create_index("ix_executions_ns_status_start", "executions", ["namespace", "status", "start_time"])
    op.create_index("ix_executions_ns_type_start", "executions", ["namespace", "workflow_type", "start_time"])
    op.create_index("ix_executions_ns_close", "executions", ["namespace", "close_time"])
    op.create_table(
        "current_executions",
        _text("namespace"),
        _text("workflow_id"),
        _text("run_id"),
        _text("status"),
        _text("start_request_id"),
        sa.Column("shard_id", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("namespace", "workflow_id"),
    )
    op.create_table(
        "history_events",
        _text("namespace"),
        _text("workflow_id"),
        _text("run_id"),
        sa.Column("event_id", sa.BigInteger(), autoincrement=False, nullable=False),
        _text("event_type"),
        _ts("event_time"),
        sa.Column("data", _json(), nullable=False),
        sa.PrimaryKeyConstraint("namespace", "workflow_id", "run_id", "event_id"),
    )
    op.create_table(
        "timers",
        sa.Column("shard_id", sa.Integer(), autoincrement=False, nullable=False),
        _text("key"),
        _ts("fire_at"),
        sa.Column("body", _json(), nullable=False),
        sa.PrimaryKeyConstraint("shard_id", "key"),
    )
    op.create_index("ix_timers_shard_fire_at", "timers", ["shard_id", "fire_at"])
    op.create_table(
        "outbox",
        sa.Column(
            "seq",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            autoincrement=True,
            nullable=False,
        ),
        sa.Column("shard_id", sa.Integer(), nullable=False),
        _text("exchange"),
        _text("routing_key"),
        sa.Column("body", sa.LargeBinary(), nullable=False),
        sa.Column("headers", _json(), nullable=False),
        _ts("created_at", now=True),
        sa.PrimaryKeyConstraint("seq"),
        sqlite_autoincrement=True,
    )
    op.create_index("ix_outbox_shard_seq", "outbox", ["shard_id", "seq"])
    op.create_table(
        "schedules",
        _text("namespace"),
        _text("schedule_id"),
        sa.Column("spec", _json(), nullable=False),
        sa.Column("state", _json(), nullable=False),
        _ts("next_run_at", nullable=True),
        sa.PrimaryKeyConstraint("namespace", "schedule_id"),
    )
    op.create_index("ix_schedules_next_run_at", "schedules", ["next_run_at"])

    op.bulk_insert(namespaces, [{"name": "default", "retention_days": 30}])


def downgrade() -> None:
    for table in (
        "schedules",
        "outbox",
        "timers",
        "history_events",
        "current_executions",
        "executions",
        "members",
        "shards",
        "namespaces",
    ):
        op.drop_table(table)
