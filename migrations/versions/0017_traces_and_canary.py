"""A transaction's trace, and the share of cards a challenger decides (a canary).

Revision ID: 0017
Revises: 0016
Create Date: 2026-12-07

* ``transactions.traceparent``: the W3C traceparent of the transaction's trace (the request
  that submitted it, or what its producer sent), so its page names the trace; null when it
  was not traced.
* ``model_canary``: every step of a canary, append-only: the share of cards (0 to 1) the
  challenger ``version`` decides from ``at``, who set it (``by``: a person, or the service
  when it rolled back by itself) and why. The latest for the challenger in force is the
  share; its ids count in the registry's revision, so every worker picks a step up.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0017"
down_revision: str | Sequence[str] | None = "0016"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("transactions") as table:
        table.add_column(sa.Column("traceparent", sa.String(55), nullable=True))
    op.create_table(
        "model_canary",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("version", sa.String(128), nullable=False),
        sa.Column("share", sa.Double(), nullable=False),
        sa.Column("at", sa.DateTime(), nullable=False),
        sa.Column("by", sa.String(64), nullable=False),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_model_canary")),
        sa.CheckConstraint("share >= 0 AND share <= 1", name=op.f("ck_model_canary_share")),
    )
    op.create_index("ix_model_canary_version", "model_canary", ["version"])


def downgrade() -> None:
    op.drop_index("ix_model_canary_version", table_name="model_canary")
    op.drop_table("model_canary")
    with op.batch_alter_table("transactions") as table:
        table.drop_column("traceparent")
