"""The model registry: every trained model, and which one decides.

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-03

* ``models``: every registered model, its card and its files as one archive.
* ``model_roles``: every change of champion and challenger, append-only; the highest id
  is the registry's revision, which the scoring workers watch.
* ``model_thresholds``: thresholds set for a model after training (by a review budget),
  append-only; the latest of a model is in force.
* ``audit_events.action`` also takes ``model.registered``, ``model.role`` and
  ``model.thresholds``.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0008"
down_revision: str | Sequence[str] | None = "0007"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_ACTIONS = (
    "'key.created', 'key.revoked', 'user.created', 'user.revoked', "
    "'user.password_set', 'sign_in', 'sign_out', 'label', 'rule.added', 'rule.changed'"
)
ACTIONS_BEFORE = f"action IN ({_ACTIONS})"
ACTIONS_AFTER = f"action IN ({_ACTIONS}, 'model.registered', 'model.role', 'model.thresholds')"


def _audit_actions(check: str) -> None:
    with op.batch_alter_table("audit_events", recreate="always") as batch:
        batch.drop_constraint(op.f("ck_audit_events_action"), type_="check")
        batch.create_check_constraint("action", check)


def upgrade() -> None:
    op.create_table(
        "models",
        sa.Column("version", sa.String(128), nullable=False),
        sa.Column("card", sa.JSON(), nullable=False),
        sa.Column("archive", sa.LargeBinary(), nullable=False),
        sa.Column("archive_sha256", sa.String(64), nullable=False),
        sa.Column("registered_at", sa.DateTime(), nullable=False),
        sa.Column("registered_by", sa.String(64), nullable=False),
        sa.PrimaryKeyConstraint("version", name=op.f("pk_models")),
    )
    op.create_table(
        "model_roles",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("role", sa.String(16), nullable=False),
        sa.Column("version", sa.String(128), nullable=True),
        sa.Column("previous", sa.String(128), nullable=True),
        sa.Column("at", sa.DateTime(), nullable=False),
        sa.Column("by", sa.String(64), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_model_roles")),
        sa.CheckConstraint("role IN ('champion', 'challenger')", name=op.f("ck_model_roles_role")),
    )
    op.create_table(
        "model_thresholds",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("version", sa.String(128), nullable=False),
        sa.Column("review", sa.Double(), nullable=False),
        sa.Column("decline", sa.Double(), nullable=False),
        sa.Column("budget", sa.JSON(), nullable=True),
        sa.Column("at", sa.DateTime(), nullable=False),
        sa.Column("by", sa.String(64), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_model_thresholds")),
        sa.CheckConstraint(
            "review >= 0 AND review <= decline AND decline <= 1",
            name=op.f("ck_model_thresholds_ordered"),
        ),
    )
    op.create_index("ix_model_thresholds_version", "model_thresholds", ["version"])
    _audit_actions(ACTIONS_AFTER)


def downgrade() -> None:
    op.execute(
        "DELETE FROM audit_events WHERE action IN "
        "('model.registered', 'model.role', 'model.thresholds')"
    )
    _audit_actions(ACTIONS_BEFORE)
    op.drop_index("ix_model_thresholds_version", table_name="model_thresholds")
    op.drop_table("model_thresholds")
    op.drop_table("model_roles")
    op.drop_table("models")
