"""Explained verdicts: the model's reasons with the share of the risk each carries.

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-03

* ``transactions.explanation`` and ``verdict_versions.explanation``: the reasons the
  model's own attribution chose, each with its share ([{reason, share}]); verdicts stored
  before this revision, or by a model that cannot say, have none (None).
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0009"
down_revision: str | Sequence[str] | None = "0008"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    for table in ("transactions", "verdict_versions"):
        with op.batch_alter_table(table) as batch:
            batch.add_column(sa.Column("explanation", sa.JSON(), nullable=True))


def downgrade() -> None:
    for table in ("verdict_versions", "transactions"):
        with op.batch_alter_table(table) as batch:
            batch.drop_column("explanation")
