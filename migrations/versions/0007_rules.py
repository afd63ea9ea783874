"""Analysts' rules: the rules, their history, and which of them hit each verdict.

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-03

* ``rules``: each rule as it is now (disabled ones stay, with their history).
* ``rule_changes``: every version of every rule, append-only; the highest id is the
  version of the whole rule set, which each verdict names.
* ``transactions.rule_hits`` / ``rules_version`` and the same on ``verdict_versions``:
  the rules that hit a verdict (active and shadow) and the rule set it was decided
  under; verdicts stored before this revision had no rules (both None).
* ``audit_events.action`` also takes ``rule.added`` and ``rule.changed``.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0007"
down_revision: str | Sequence[str] | None = "0006"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_ACTIONS = (
    "'key.created', 'key.revoked', 'user.created', 'user.revoked', "
    "'user.password_set', 'sign_in', 'sign_out', 'label'"
)
ACTIONS_BEFORE = f"action IN ({_ACTIONS})"
ACTIONS_AFTER = f"action IN ({_ACTIONS}, 'rule.added', 'rule.changed')"


def _rule_columns() -> list[sa.Column]:  # type: ignore[type-arg]
    return [
        sa.Column("expression", sa.Text(), nullable=False),
        sa.Column("action", sa.String(16), nullable=False),
        sa.Column("reason", sa.String(200), nullable=False),
        sa.Column("mode", sa.String(16), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("changed_at", sa.DateTime(), nullable=False),
        sa.Column("changed_by", sa.String(64), nullable=False),
    ]


def _rule_checks(table: str) -> list[sa.CheckConstraint]:
    return [
        sa.CheckConstraint(
            "action IN ('decline', 'review', 'approve', 'reason')", name=op.f(f"ck_{table}_action")
        ),
        sa.CheckConstraint(
            "mode IN ('active', 'shadow', 'disabled')", name=op.f(f"ck_{table}_mode")
        ),
        sa.CheckConstraint("length(expression) <= 4000", name=op.f(f"ck_{table}_expression")),
    ]


def _audit_actions(check: str) -> None:
    with op.batch_alter_table("audit_events", recreate="always") as batch:
        batch.drop_constraint(op.f("ck_audit_events_action"), type_="check")
        batch.create_check_constraint("action", check)


def upgrade() -> None:
    for table in ("transactions", "verdict_versions"):
        with op.batch_alter_table(table) as batch:
            batch.add_column(sa.Column("rule_hits", sa.JSON(), nullable=True))
            batch.add_column(sa.Column("rules_version", sa.Integer(), nullable=True))

    op.create_table(
        "rules",
        sa.Column("name", sa.String(64), nullable=False),
        *_rule_columns(),
        sa.PrimaryKeyConstraint("name", name=op.f("pk_rules")),
        *_rule_checks("rules"),
    )
    op.create_table(
        "rule_changes",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("name", sa.String(64), nullable=False),
        *_rule_columns(),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_rule_changes")),
        sa.UniqueConstraint("name", "version", name=op.f("uq_rule_changes_name")),
        *_rule_checks("rule_changes"),
    )
    op.create_index("ix_rule_changes_name", "rule_changes", ["name"])
    _audit_actions(ACTIONS_AFTER)


def downgrade() -> None:
    op.execute("DELETE FROM audit_events WHERE action IN ('rule.added', 'rule.changed')")
    _audit_actions(ACTIONS_BEFORE)
    op.drop_index("ix_rule_changes_name", table_name="rule_changes")
    op.drop_table("rule_changes")
    op.drop_table("rules")
    for table in ("verdict_versions", "transactions"):
        with op.batch_alter_table(table) as batch:
            batch.drop_column("rules_version")
            batch.drop_column("rule_hits")
