"""Webhooks: subscriptions, the delivery outbox and its log.

Revision ID: 0016
Revises: 0015
Create Date: 2026-12-07

* ``webhook_subscriptions``: where events of some types go, with the secret that signs them
  (kept as given: the service signs with it).
* ``webhook_deliveries``: the outbox, one row per event and subscription
  (``uq_webhook_deliveries_subscription_id``: an event is delivered to a subscription once
  however often it is written), with its attempts, when it is next due and who holds it.
* ``webhook_attempts``: every attempt, append-only (a subscription's delivery log).
* ``audit_events.action`` also takes ``webhook.added``, ``webhook.removed``,
  ``webhook.replayed``.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0016"
down_revision: str | Sequence[str] | None = "0015"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_ACTIONS = (
    "'key.created', 'key.revoked', 'user.created', 'user.revoked', "
    "'user.password_set', 'sign_in', 'sign_out', 'label', 'rule.added', 'rule.changed', "
    "'model.registered', 'model.role', 'model.thresholds', 'model.signed', "
    "'case.resolved', 'queue.added', 'queue.changed', "
    "'list.created', 'list.entry_added', 'list.entry_removed'"
)
ADDED = ("webhook.added", "webhook.removed", "webhook.replayed")
ACTIONS_BEFORE = f"action IN ({_ACTIONS})"
ACTIONS_AFTER = f"action IN ({_ACTIONS}, {', '.join(repr(a) for a in ADDED)})"


def _audit_actions(check: str) -> None:
    with op.batch_alter_table("audit_events", recreate="always") as batch:
        batch.drop_constraint(op.f("ck_audit_events_action"), type_="check")
        batch.create_check_constraint("action", check)


def upgrade() -> None:
    op.create_table(
        "webhook_subscriptions",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("url", sa.String(2048), nullable=False),
        sa.Column("events", sa.JSON(), nullable=False),
        sa.Column("secret", sa.String(128), nullable=False),
        sa.Column("description", sa.String(200), nullable=False),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.Column("created_by", sa.String(64), nullable=False),
        sa.Column("removed_at", sa.DateTime(), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_webhook_subscriptions")),
    )
    op.create_table(
        "webhook_deliveries",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("subscription_id", sa.Integer(), nullable=False),
        sa.Column("event_id", sa.String(36), nullable=False),
        sa.Column("event_type", sa.String(32), nullable=False),
        sa.Column("body", sa.Text(), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.Column("next_attempt_at", sa.DateTime(), nullable=True),
        sa.Column("lease_owner", sa.String(64), nullable=True),
        sa.Column("lease_until", sa.DateTime(), nullable=True),
        sa.Column("delivered_at", sa.DateTime(), nullable=True),
        sa.Column("last_error", sa.Text(), nullable=True),
        sa.CheckConstraint(
            "status IN ('pending', 'delivered', 'failed')",
            name=op.f("ck_webhook_deliveries_status"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_webhook_deliveries")),
        sa.UniqueConstraint(
            "subscription_id", "event_id", name=op.f("uq_webhook_deliveries_subscription_id")
        ),
    )
    op.create_index(
        "ix_webhook_deliveries_status_next_attempt_at",
        "webhook_deliveries",
        ["status", "next_attempt_at"],
    )
    op.create_table(
        "webhook_attempts",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("delivery_id", sa.Integer(), nullable=False),
        sa.Column("subscription_id", sa.Integer(), nullable=False),
        sa.Column("event_id", sa.String(36), nullable=False),
        sa.Column("at", sa.DateTime(), nullable=False),
        sa.Column("status_code", sa.Integer(), nullable=True),
        sa.Column("error", sa.Text(), nullable=True),
        sa.Column("duration_ms", sa.Double(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_webhook_attempts")),
    )
    op.create_index("ix_webhook_attempts_subscription_id", "webhook_attempts", ["subscription_id"])
    _audit_actions(ACTIONS_AFTER)


def downgrade() -> None:
    listed = ", ".join(repr(action) for action in ADDED)
    op.execute(f"DELETE FROM audit_events WHERE action IN ({listed})")
    _audit_actions(ACTIONS_BEFORE)
    op.drop_index("ix_webhook_attempts_subscription_id", table_name="webhook_attempts")
    op.drop_table("webhook_attempts")
    op.drop_index("ix_webhook_deliveries_status_next_attempt_at", table_name="webhook_deliveries")
    op.drop_table("webhook_deliveries")
    op.drop_table("webhook_subscriptions")
