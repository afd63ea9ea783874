"""Model archives signed with the archive key, a key the database never holds.

Revision ID: 0012
Revises: 0011
Create Date: 2026-12-06

* ``models.archive_signature``: the HMAC-SHA256 of the archive and its model's version under
  the archive key, checked before a worker loads the model. NULL for the archives
  registered before this revision: no worker loads them until an admin who holds the key
  signs them, once, with `fraud models sign`.
* ``audit_events.action`` also takes ``model.signed``.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0012"
down_revision: str | Sequence[str] | None = "0011"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_ACTIONS = (
    "'key.created', 'key.revoked', 'user.created', 'user.revoked', "
    "'user.password_set', 'sign_in', 'sign_out', 'label', 'rule.added', 'rule.changed', "
    "'model.registered', 'model.role', 'model.thresholds'"
)
ACTIONS_BEFORE = f"action IN ({_ACTIONS})"
ACTIONS_AFTER = f"action IN ({_ACTIONS}, 'model.signed')"


def _audit_actions(check: str) -> None:
    with op.batch_alter_table("audit_events", recreate="always") as batch:
        batch.drop_constraint(op.f("ck_audit_events_action"), type_="check")
        batch.create_check_constraint("action", check)


def upgrade() -> None:
    with op.batch_alter_table("models") as batch:
        batch.add_column(sa.Column("archive_signature", sa.String(128), nullable=True))
    _audit_actions(ACTIONS_AFTER)


def downgrade() -> None:
    op.execute("DELETE FROM audit_events WHERE action = 'model.signed'")
    _audit_actions(ACTIONS_BEFORE)
    with op.batch_alter_table("models") as batch:
        batch.drop_column("archive_signature")
