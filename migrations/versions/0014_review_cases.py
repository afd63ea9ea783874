"""Review cases and the queues they wait in.

Revision ID: 0014
Revises: 0013
Create Date: 2026-12-07

* ``queues``: where cases wait, with the CEL condition that routes a case there, the SLA,
  whether declines open cases there, the priority's exponents and the routing order. The
  ``default`` queue (every review no other queue takes; a four-hour SLA) is made here.
* ``cases``: one per transaction (``uq_cases_transaction_id``: a redelivered verdict opens
  nothing twice), who holds it and how it ended; ``case_notes`` and ``case_events`` (its
  history), append-only.
* ``audit_events.action`` also takes ``case.resolved``, ``queue.added``, ``queue.changed``.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime

import sqlalchemy as sa
from alembic import op

revision: str = "0014"
down_revision: str | Sequence[str] | None = "0013"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_ACTIONS = (
    "'key.created', 'key.revoked', 'user.created', 'user.revoked', "
    "'user.password_set', 'sign_in', 'sign_out', 'label', 'rule.added', 'rule.changed', "
    "'model.registered', 'model.role', 'model.thresholds', 'model.signed'"
)
ADDED = ("case.resolved", "queue.added", "queue.changed")
ACTIONS_BEFORE = f"action IN ({_ACTIONS})"
ACTIONS_AFTER = f"action IN ({_ACTIONS}, {', '.join(repr(a) for a in ADDED)})"


def _audit_actions(check: str) -> None:
    with op.batch_alter_table("audit_events", recreate="always") as batch:
        batch.drop_constraint(op.f("ck_audit_events_action"), type_="check")
        batch.create_check_constraint("action", check)


def upgrade() -> None:
    queues = op.create_table(
        "queues",
        sa.Column("name", sa.String(64), nullable=False),
        sa.Column("condition", sa.Text(), nullable=False),
        sa.Column("sla_s", sa.Integer(), nullable=False),
        sa.Column("include_declines", sa.Boolean(), nullable=False),
        sa.Column("weights", sa.JSON(), nullable=False),
        sa.Column("position", sa.Integer(), nullable=False),
        sa.Column("description", sa.String(200), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("changed_at", sa.DateTime(), nullable=False),
        sa.Column("changed_by", sa.String(64), nullable=False),
        sa.CheckConstraint("sla_s > 0", name=op.f("ck_queues_sla")),
        sa.PrimaryKeyConstraint("name", name=op.f("pk_queues")),
    )
    op.bulk_insert(
        queues,
        [
            {
                "name": "default",
                "condition": "true",
                "sla_s": 4 * 3600,
                "include_declines": False,
                "weights": {"score": 1.0, "amount": 1.0, "waiting": 1.0},
                "position": 100,
                "description": "every review no other queue takes",
                "version": 1,
                "changed_at": datetime.now(UTC).replace(tzinfo=None),
                "changed_by": "migration",
            }
        ],
    )
    op.create_table(
        "cases",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("transaction_id", sa.String(64), nullable=False),
        sa.Column("user_id", sa.String(64), nullable=False),
        sa.Column("merchant", sa.String(128), nullable=False),
        sa.Column("amount", sa.Double(), nullable=False),
        sa.Column("currency", sa.String(3), nullable=False),
        sa.Column("fraud_score", sa.Double(), nullable=False),
        sa.Column("decision", sa.String(16), nullable=False),
        sa.Column("queue", sa.String(64), nullable=False),
        sa.Column("opened_at", sa.DateTime(), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("assignee", sa.String(64), nullable=True),
        sa.Column("claimed_at", sa.DateTime(), nullable=True),
        sa.Column("resolved_at", sa.DateTime(), nullable=True),
        sa.Column("disposition", sa.String(16), nullable=True),
        sa.Column("resolved_by", sa.String(64), nullable=True),
        sa.CheckConstraint(
            "status IN ('open', 'claimed', 'waiting', 'resolved')", name=op.f("ck_cases_status")
        ),
        sa.CheckConstraint(
            "decision IN ('approve', 'review', 'decline')", name=op.f("ck_cases_decision")
        ),
        sa.CheckConstraint(
            "disposition IS NULL OR disposition IN ('fraud', 'not_fraud', 'needs_info')",
            name=op.f("ck_cases_disposition"),
        ),
        sa.CheckConstraint(
            "status <> 'claimed' OR assignee IS NOT NULL",
            name=op.f("ck_cases_claimed_has_assignee"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_cases")),
        sa.UniqueConstraint("transaction_id", name=op.f("uq_cases_transaction_id")),
    )
    op.create_index("ix_cases_queue_status_opened_at", "cases", ["queue", "status", "opened_at"])
    op.create_index("ix_cases_user_id_status", "cases", ["user_id", "status"])
    op.create_index("ix_cases_merchant_disposition", "cases", ["merchant", "disposition"])
    op.create_table(
        "case_notes",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("case_id", sa.Integer(), nullable=False),
        sa.Column("at", sa.DateTime(), nullable=False),
        sa.Column("by", sa.String(64), nullable=False),
        sa.Column("text", sa.Text(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_case_notes")),
    )
    op.create_index("ix_case_notes_case_id", "case_notes", ["case_id"])
    op.create_table(
        "case_events",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("case_id", sa.Integer(), nullable=False),
        sa.Column("at", sa.DateTime(), nullable=False),
        sa.Column("by", sa.String(64), nullable=False),
        sa.Column("action", sa.String(16), nullable=False),
        sa.Column("detail", sa.Text(), nullable=False),
        sa.CheckConstraint(
            "action IN ('claimed', 'released', 'noted', 'waiting', 'resolved', 'listed')",
            name=op.f("ck_case_events_action"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_case_events")),
    )
    op.create_index("ix_case_events_case_id", "case_events", ["case_id"])
    _audit_actions(ACTIONS_AFTER)


def downgrade() -> None:
    listed = ", ".join(repr(action) for action in ADDED)
    op.execute(f"DELETE FROM audit_events WHERE action IN ({listed})")
    _audit_actions(ACTIONS_BEFORE)
    op.drop_index("ix_case_events_case_id", table_name="case_events")
    op.drop_table("case_events")
    op.drop_index("ix_case_notes_case_id", table_name="case_notes")
    op.drop_table("case_notes")
    op.drop_index("ix_cases_merchant_disposition", table_name="cases")
    op.drop_index("ix_cases_user_id_status", table_name="cases")
    op.drop_index("ix_cases_queue_status_opened_at", table_name="cases")
    op.drop_table("cases")
    op.drop_table("queues")
