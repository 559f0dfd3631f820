"""Visibility: typed custom search attributes (definitions + one row per value) and the
executions indexes list queries use.

Written by hand to match tidal_server/db/tables.py (tests/test_db_migrations.py compares them).

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-23
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0002"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def _text(name: str, *, nullable: bool = False) -> sa.Column[object]:
    return sa.Column(name, sa.Text(), nullable=nullable)


def upgrade() -> None:
    op.create_table(
        "search_attribute_defs",
        _text("namespace"),
        _text("name"),
        _text("type"),
        sa.PrimaryKeyConstraint("namespace", "name"),
    )
    op.create_table(
        "search_attribute_values",
        _text("namespace"),
        _text("workflow_id"),
        _text("run_id"),
        _text("name"),
        _text("str_value", nullable=True),
        _text("text_value", nullable=True),
        sa.Column("int_value", sa.BigInteger(), nullable=True),
        sa.Column("double_value", sa.Double(), nullable=True),
        sa.Column("time_value", sa.DateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("namespace", "workflow_id", "run_id", "name"),
    )
    for suffix, column in (
        ("str", "str_value"),
        ("int", "int_value"),
        ("double", "double_value"),
        ("time", "time_value"),
    ):
        op.create_index(f"ix_sav_ns_name_{suffix}", "search_attribute_values", ["namespace", "name", column])
    op.create_index("ix_executions_ns_start_run", "executions", ["namespace", "start_time", "run_id"])
    op.create_index("ix_executions_ns_tq_start", "executions", ["namespace", "task_queue", "start_time"])


def downgrade() -> None:
    op.drop_index("ix_executions_ns_tq_start", "executions")
    op.drop_index("ix_executions_ns_start_run", "executions")
    op.drop_table("search_attribute_values")
    op.drop_table("search_attribute_defs")
