"""A card's transactions, newest first: what its page lists.

Revision ID: 0013
Revises: 0012
Create Date: 2026-12-06

* ``ix_transactions_user_received_at``: ``user_id``, then newest received first, so a card's
  latest transactions are one index range however many others the table holds.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0013"
down_revision: str | Sequence[str] | None = "0012"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_index(
        "ix_transactions_user_received_at",
        "transactions",
        ["user_id", sa.text("received_at DESC"), sa.text("transaction_id DESC")],
    )


def downgrade() -> None:
    op.drop_index("ix_transactions_user_received_at", table_name="transactions")
