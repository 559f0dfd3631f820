"""Schedules (issue 12): the `schedules` table takes its real shape (the 0001 placeholder was never
written to): a history-owned document per schedule with a version, plus the columns listing reads.

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-06
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0004"
down_revision: str | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


# Spelled out, not imported from tables.py, so this revision stays fixed when the models change.
def _json() -> sa.types.TypeEngine[Any]:
    return sa.JSON().with_variant(postgresql.JSONB(), "postgresql")


def _ts() -> sa.types.TypeEngine[Any]:
    return sa.DateTime(timezone=True)


def upgrade() -> None:
    op.drop_index("ix_schedules_next_run_at", table_name="schedules")
    op.drop_table("schedules")
    op.create_table(
        "schedules",
        sa.Column("namespace", sa.Text(), nullable=False),
        sa.Column("schedule_id", sa.Text(), nullable=False),
        sa.Column("shard_id", sa.Integer(), nullable=False, autoincrement=False),
        sa.Column("version", sa.Integer(), nullable=False, autoincrement=False),
        sa.Column("paused", sa.Boolean(), nullable=False),
        sa.Column("next_action_at", _ts(), nullable=True),
        sa.Column("document", _json(), nullable=False),
        sa.Column("created_at", _ts(), nullable=False),
        sa.Column("updated_at", _ts(), nullable=False),
        sa.PrimaryKeyConstraint("namespace", "schedule_id"),
    )
    op.create_index("ix_schedules_shard", "schedules", ["shard_id"])


def downgrade() -> None:
    op.drop_index("ix_schedules_shard", table_name="schedules")
    op.drop_table("schedules")
    op.create_table(
        "schedules",
        sa.Column("namespace", sa.Text(), nullable=False),
        sa.Column("schedule_id", sa.Text(), nullable=False),
        sa.Column("spec", _json(), nullable=False),
        sa.Column("state", _json(), nullable=False),
        sa.Column("next_run_at", _ts(), nullable=True),
        sa.PrimaryKeyConstraint("namespace", "schedule_id"),
    )
    op.create_index("ix_schedules_next_run_at", "schedules", ["next_run_at"])
