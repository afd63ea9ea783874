"""The decision ledger, label history, the outbox mark and dead-letter replays.

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-02

* ``transactions.published_at``: when the transaction's message became durable on
  the bus. A submission claims its row first and publishes after; a row still
  without it is what the outbox relay publishes. Rows stored before this revision
  were published when they were stored.
* ``verdict_versions``: later scorings of a decided transaction (a replay, another
  model); the decision itself stays on ``transactions``.
* ``label_history``: every label given, with the one it replaced; the label on
  ``transactions`` is the latest. Existing labels become the first entries.
* ``dead_letter_replays``: letters sent back to their source, so a replay is done once.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0005"
down_revision: str | Sequence[str] | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("transactions") as batch:
        batch.add_column(sa.Column("published_at", sa.DateTime(), nullable=True))
    op.execute("UPDATE transactions SET published_at = received_at")
    op.create_index(
        "ix_transactions_unpublished",
        "transactions",
        ["received_at"],
        sqlite_where=sa.text("published_at IS NULL"),
        postgresql_where=sa.text("published_at IS NULL"),
    )

    op.create_table(
        "verdict_versions",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("transaction_id", sa.String(64), nullable=False),
        sa.Column("fraud_score", sa.Double(), nullable=False),
        sa.Column("decision", sa.String(16), nullable=False),
        sa.Column("reasons", sa.JSON(), nullable=False),
        sa.Column("model_version", sa.String(128), nullable=False),
        sa.Column("scored_at", sa.DateTime(), nullable=False),
        sa.Column("recorded_at", sa.DateTime(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_verdict_versions")),
        sa.UniqueConstraint(
            "transaction_id",
            "model_version",
            "fraud_score",
            name=op.f("uq_verdict_versions_transaction_id"),
        ),
        sa.CheckConstraint(
            "decision IN ('approve', 'review', 'decline')",
            name=op.f("ck_verdict_versions_decision"),
        ),
    )
    op.create_index("ix_verdict_versions_transaction_id", "verdict_versions", ["transaction_id"])

    op.create_table(
        "label_history",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("transaction_id", sa.String(64), nullable=False),
        sa.Column("is_fraud", sa.Boolean(), nullable=False),
        sa.Column("analyst", sa.String(64), nullable=False),
        sa.Column("labelled_at", sa.DateTime(), nullable=False),
        sa.Column("previous_is_fraud", sa.Boolean(), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_label_history")),
    )
    op.create_index("ix_label_history_transaction_id", "label_history", ["transaction_id"])
    op.execute(
        "INSERT INTO label_history (transaction_id, is_fraud, analyst, labelled_at)"
        " SELECT transaction_id, label_is_fraud, label_analyst, labelled_at"
        " FROM transactions WHERE label_is_fraud IS NOT NULL"
    )

    op.create_table(
        "dead_letter_replays",
        sa.Column("letter", sa.String(512), nullable=False),
        sa.Column("replayed_at", sa.DateTime(), nullable=False),
        sa.PrimaryKeyConstraint("letter", name=op.f("pk_dead_letter_replays")),
    )


def downgrade() -> None:
    op.drop_table("dead_letter_replays")
    op.drop_index("ix_label_history_transaction_id", table_name="label_history")
    op.drop_table("label_history")
    op.drop_index("ix_verdict_versions_transaction_id", table_name="verdict_versions")
    op.drop_table("verdict_versions")
    op.drop_index("ix_transactions_unpublished", table_name="transactions")
    with op.batch_alter_table("transactions") as batch:
        batch.drop_column("published_at")
