"""Index verdicts by when they were scored, for the dashboard's live window.

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-24

The dashboard re-reads the last seconds of verdicts every second or two; without
the index each refresh would scan the whole table.
"""

from __future__ import annotations

from collections.abc import Sequence

from alembic import op

revision: str = "0003"
down_revision: str | Sequence[str] | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_index("ix_transactions_scored_at", "transactions", ["scored_at"])


def downgrade() -> None:
    op.drop_index("ix_transactions_scored_at", table_name="transactions")
