"""Record when each transaction went through the preprocess and record stages.

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-24

With ``received_at`` and ``scored_at`` these make the timeline an analyst sees
on a transaction's page. Milliseconds after receipt rather than timestamps:
the record stage writes them for every verdict, and a float costs far less to
bind than a datetime. Nullable: rows stored before this revision have none.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0004"
down_revision: str | Sequence[str] | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("transactions") as batch:
        batch.add_column(sa.Column("preprocessed_ms", sa.Double(), nullable=True))
        batch.add_column(sa.Column("recorded_ms", sa.Double(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("transactions") as batch:
        batch.drop_column("recorded_ms")
        batch.drop_column("preprocessed_ms")
