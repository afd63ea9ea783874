"""Rules that fail: what a rule does when it cannot be evaluated, what each verdict says of
the rules that failed on it, and tallies of every rule's evaluations and errors.

Revision ID: 0011
Revises: 0010
Create Date: 2026-12-06

* ``rules.on_error`` and ``rule_changes.on_error``: ``skip`` (the rule does not hit, the
  default and what every rule did before) or ``apply`` (its action is taken: a rule that
  must fail closed).
* ``transactions.rule_faults`` and ``verdict_versions.rule_faults``: the rules that raised
  an error on the transaction or were cut off by the evaluation budget
  ([{rule, version, fault, applied}]); None when every rule was evaluated.
* ``rule_tallies``: per rule and five minutes, how many verdicts it was evaluated on, how many
  raised an error and how many it was cut off from (the rules page's error rate).
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0011"
down_revision: str | Sequence[str] | None = "0010"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    for table in ("rules", "rule_changes"):
        with op.batch_alter_table(table) as batch:
            batch.add_column(
                sa.Column("on_error", sa.String(8), nullable=False, server_default="skip")
            )
            batch.create_check_constraint("on_error", "on_error IN ('skip', 'apply')")
    for table in ("transactions", "verdict_versions"):
        with op.batch_alter_table(table) as batch:
            batch.add_column(sa.Column("rule_faults", sa.JSON(), nullable=True))
    op.create_table(
        "rule_tallies",
        sa.Column("rule", sa.String(64), nullable=False),
        sa.Column("period", sa.DateTime(), nullable=False),
        sa.Column("evaluated", sa.Integer(), nullable=False),
        sa.Column("errors", sa.Integer(), nullable=False),
        sa.Column("cut_off", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("rule", "period", name=op.f("pk_rule_tallies")),
    )


def downgrade() -> None:
    op.drop_table("rule_tallies")
    for table in ("verdict_versions", "transactions"):
        with op.batch_alter_table(table) as batch:
            batch.drop_column("rule_faults")
    for table in ("rule_changes", "rules"):
        with op.batch_alter_table(table) as batch:
            batch.drop_constraint("on_error", type_="check")
            batch.drop_column("on_error")
