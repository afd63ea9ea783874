"""Drift tallies: how many recorded verdicts of each model fell in each bin of its drift
reference, per feature and for the score, per hour; and the versions of a verdict found by
model (a challenger's scorings, compared with the champion's).

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-03
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0010"
down_revision: str | Sequence[str] | None = "0009"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "drift_tallies",
        sa.Column("model_version", sa.String(128), nullable=False),
        sa.Column("hour", sa.DateTime(), nullable=False),
        sa.Column("name", sa.String(64), nullable=False),
        sa.Column("bin", sa.Integer(), nullable=False),
        sa.Column("count", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint(
            "model_version", "hour", "name", "bin", name=op.f("pk_drift_tallies")
        ),
    )
    op.create_index("ix_verdict_versions_model_version", "verdict_versions", ["model_version"])


def downgrade() -> None:
    op.drop_index("ix_verdict_versions_model_version", table_name="verdict_versions")
    op.drop_table("drift_tallies")
