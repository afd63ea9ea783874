"""Add the analyst's label: fraud or not, who said so and when.

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-24

Nullable columns, so existing rows stay valid (unlabelled). SQLite alters
tables only in batch mode, which Alembic uses on every backend here.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0002"
down_revision: str | Sequence[str] | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("transactions") as batch:
        batch.add_column(sa.Column("label_is_fraud", sa.Boolean(), nullable=True))
        batch.add_column(sa.Column("label_analyst", sa.String(64), nullable=True))
        batch.add_column(sa.Column("labelled_at", sa.DateTime(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("transactions") as batch:
        batch.drop_column("labelled_at")
        batch.drop_column("label_analyst")
        batch.drop_column("label_is_fraud")
