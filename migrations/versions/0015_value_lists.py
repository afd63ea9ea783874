"""Value lists that rules read (``tx.user_id in lists.blocked_cards``).

Revision ID: 0015
Revises: 0014
Create Date: 2026-12-07

* ``value_lists``: each list, the field its values are of, and its version (one per change,
  taken holding the row, so a list's changes commit in version order).
* ``list_entries``: the entries as they are (an expired one matches nothing until removed).
* ``list_changes``: every change by list and version, append-only: what scoring workers
  apply to the lists they hold.
* ``audit_events.action`` also takes ``list.created``, ``list.entry_added``,
  ``list.entry_removed``.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0015"
down_revision: str | Sequence[str] | None = "0014"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_ACTIONS = (
    "'key.created', 'key.revoked', 'user.created', 'user.revoked', "
    "'user.password_set', 'sign_in', 'sign_out', 'label', 'rule.added', 'rule.changed', "
    "'model.registered', 'model.role', 'model.thresholds', 'model.signed', "
    "'case.resolved', 'queue.added', 'queue.changed'"
)
ADDED = ("list.created", "list.entry_added", "list.entry_removed")
ACTIONS_BEFORE = f"action IN ({_ACTIONS})"
ACTIONS_AFTER = f"action IN ({_ACTIONS}, {', '.join(repr(a) for a in ADDED)})"


def _audit_actions(check: str) -> None:
    with op.batch_alter_table("audit_events", recreate="always") as batch:
        batch.drop_constraint(op.f("ck_audit_events_action"), type_="check")
        batch.create_check_constraint("action", check)


def upgrade() -> None:
    op.create_table(
        "value_lists",
        sa.Column("name", sa.String(64), nullable=False),
        sa.Column("field", sa.String(32), nullable=False),
        sa.Column("description", sa.String(200), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.Column("created_by", sa.String(64), nullable=False),
        sa.PrimaryKeyConstraint("name", name=op.f("pk_value_lists")),
    )
    op.create_table(
        "list_entries",
        sa.Column("list", sa.String(64), nullable=False),
        sa.Column("value", sa.String(128), nullable=False),
        sa.Column("expires_at", sa.DateTime(), nullable=True),
        sa.Column("added_at", sa.DateTime(), nullable=False),
        sa.Column("added_by", sa.String(64), nullable=False),
        sa.Column("reason", sa.String(200), nullable=False),
        sa.PrimaryKeyConstraint("list", "value", name=op.f("pk_list_entries")),
    )
    op.create_table(
        "list_changes",
        sa.Column("list", sa.String(64), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("value", sa.String(128), nullable=False),
        sa.Column("removed", sa.Boolean(), nullable=False),
        sa.Column("expires_at", sa.DateTime(), nullable=True),
        sa.Column("at", sa.DateTime(), nullable=False),
        sa.Column("by", sa.String(64), nullable=False),
        sa.PrimaryKeyConstraint("list", "version", name=op.f("pk_list_changes")),
    )
    _audit_actions(ACTIONS_AFTER)


def downgrade() -> None:
    listed = ", ".join(repr(action) for action in ADDED)
    op.execute(f"DELETE FROM audit_events WHERE action IN ({listed})")
    _audit_actions(ACTIONS_BEFORE)
    op.drop_table("list_changes")
    op.drop_table("list_entries")
    op.drop_table("value_lists")
