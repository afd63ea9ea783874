"""Create the transactions table: one row per transaction and its verdict.

Revision ID: 0001
Revises:
Create Date: 2025-11-24

Written out by hand rather than imported from ``fraud.adapters.sqlalchemy.tables``:
a revision is a frozen record of the schema at that point in history, and must
keep working after the tables module moves on.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0001"
down_revision: str | Sequence[str] | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "transactions",
        sa.Column("transaction_id", sa.String(64), nullable=False),
        sa.Column("user_id", sa.String(64), nullable=False),
        sa.Column("amount", sa.Double(), nullable=False),
        sa.Column("currency", sa.String(3), nullable=False),
        sa.Column("merchant", sa.String(128), nullable=False),
        sa.Column("timestamp", sa.DateTime(), nullable=False),
        sa.Column("merchant_type", sa.String(64), nullable=False),
        sa.Column("device_type", sa.String(64), nullable=False),
        sa.Column("location_match", sa.Boolean(), nullable=False),
        sa.Column("received_at", sa.DateTime(), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("fraud_score", sa.Double(), nullable=True),
        sa.Column("decision", sa.String(16), nullable=True),
        sa.Column("reasons", sa.JSON(none_as_null=True), nullable=True),
        sa.Column("model_version", sa.String(128), nullable=True),
        sa.Column("scored_at", sa.DateTime(), nullable=True),
        sa.Column("latency_ms", sa.Double(), nullable=True),
        sa.Column("features", sa.JSON(none_as_null=True), nullable=True),
        sa.Column("error", sa.Text(), nullable=True),
        sa.Column("updated_at", sa.DateTime(), nullable=False),
        sa.PrimaryKeyConstraint("transaction_id", name=op.f("pk_transactions")),
        sa.CheckConstraint(
            "status IN ('pending', 'scored', 'failed')", name=op.f("ck_transactions_status")
        ),
        sa.CheckConstraint(
            "decision IN ('approve', 'review', 'decline')", name=op.f("ck_transactions_decision")
        ),
        sa.CheckConstraint(
            "fraud_score >= 0 AND fraud_score <= 1", name=op.f("ck_transactions_fraud_score")
        ),
        sa.CheckConstraint(
            "decision IS NULL OR (fraud_score IS NOT NULL AND reasons IS NOT NULL"
            " AND model_version IS NOT NULL AND scored_at IS NOT NULL)",
            name=op.f("ck_transactions_verdict_complete"),
        ),
        sa.CheckConstraint(
            "status <> 'scored' OR decision IS NOT NULL",
            name=op.f("ck_transactions_scored_has_verdict"),
        ),
    )
    op.create_index(
        "ix_transactions_received_at",
        "transactions",
        [sa.text("received_at DESC"), sa.text("transaction_id DESC")],
    )
    op.create_index(
        "ix_transactions_decision_received_at",
        "transactions",
        ["decision", sa.text("received_at DESC")],
    )
    op.create_index("ix_transactions_status_decision", "transactions", ["status", "decision"])


def downgrade() -> None:
    op.drop_index("ix_transactions_status_decision", table_name="transactions")
    op.drop_index("ix_transactions_decision_received_at", table_name="transactions")
    op.drop_index("ix_transactions_received_at", table_name="transactions")
    op.drop_table("transactions")
