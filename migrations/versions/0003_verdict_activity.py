"""The dashboard's rollup: per-second tallies of recorded verdicts.

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-24

The record stage logs one row per batch and second; the dashboard reads a few
hundred of them for its five-minute window instead of a row per verdict.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0003"
down_revision: str | Sequence[str] | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "verdict_activity",
        sa.Column("id", sa.Integer(), primary_key=True, autoincrement=True),
        sa.Column("second", sa.DateTime(), nullable=False),
        sa.Column("approve", sa.Integer(), nullable=False),
        sa.Column("review", sa.Integer(), nullable=False),
        sa.Column("decline", sa.Integer(), nullable=False),
        sa.Column("latency_counts", sa.JSON(), nullable=False),
        sa.Column("score_counts", sa.JSON(), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_verdict_activity"),
    )
    op.create_index("ix_verdict_activity_second", "verdict_activity", ["second"])


def downgrade() -> None:
    op.drop_index("ix_verdict_activity_second", table_name="verdict_activity")
    op.drop_table("verdict_activity")
