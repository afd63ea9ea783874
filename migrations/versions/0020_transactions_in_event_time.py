"""Transactions in event-time order from an index: a restart's rebuild reads them in pages.

Revision ID: 0020
Revises: 0019
Create Date: 2026-12-07

* ``ix_transactions_timestamp``: ``timestamp, transaction_id``. ``fraud run`` rebuilds its
  users' profiles at every start from every transaction stored, in event-time order, in keyset
  pages of 10,000; ``fraud retrain`` reads a period the same way. With no index in that order,
  each page scanned and sorted the whole table: 200,322 transactions took 87.5 s (61.3 s of
  CPU), the time growing with the square of the table; 18.6 s through this index. The index
  costs a write per transaction stored: within the noise of ``benchmarks/small_batches.py``
  (6.00 against 6.06 ms of CPU a one-row batch, 24.30 against 24.41 for 32 rows, three runs
  each).
"""

from __future__ import annotations

from collections.abc import Sequence

from alembic import op

revision: str = "0020"
down_revision: str | Sequence[str] | None = "0019"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_index("ix_transactions_timestamp", "transactions", ["timestamp", "transaction_id"])


def downgrade() -> None:
    op.drop_index("ix_transactions_timestamp", table_name="transactions")
