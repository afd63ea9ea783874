"""Identity and access: keys, accounts, sessions, the audit log, shared secrets, and who
submitted each transaction.

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-02

* ``api_keys``: systems' keys by the SHA-256 of the secret, with a role and an
  optional rate limit; revoked keys stay (the audit log names them).
* ``accounts``: people who sign in, with a role and an argon2id password hash.
* ``sessions``: signed-in sessions by the SHA-256 of the cookie's token.
* ``audit_events``: append-only.
* ``service_secrets``: what every process must agree on (the session signing key).
* ``transactions.submitted_by``: the subject of the key that submitted it over the
  API, so it may read it back; rows stored before this revision have none (only
  viewers see them).
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0006"
down_revision: str | Sequence[str] | None = "0005"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

ROLES = "role IN ('submitter', 'viewer', 'analyst', 'admin', 'metrics')"
ACTIONS = (
    "action IN ('key.created', 'key.revoked', 'user.created', 'user.revoked', "
    "'user.password_set', 'sign_in', 'sign_out', 'label')"
)


def upgrade() -> None:
    with op.batch_alter_table("transactions") as batch:
        batch.add_column(sa.Column("submitted_by", sa.String(64), nullable=True))

    op.create_table(
        "api_keys",
        sa.Column("name", sa.String(60), nullable=False),
        sa.Column("role", sa.String(16), nullable=False),
        sa.Column("digest", sa.String(64), nullable=False),
        sa.Column("rate_limit", sa.String(32), nullable=True),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.Column("created_by", sa.String(64), nullable=False),
        sa.Column("revoked_at", sa.DateTime(), nullable=True),
        sa.PrimaryKeyConstraint("name", name=op.f("pk_api_keys")),
        sa.UniqueConstraint("digest", name=op.f("uq_api_keys_digest")),
        sa.CheckConstraint(ROLES, name=op.f("ck_api_keys_role")),
    )
    op.create_table(
        "accounts",
        sa.Column("name", sa.String(60), nullable=False),
        sa.Column("role", sa.String(16), nullable=False),
        sa.Column("password_hash", sa.String(256), nullable=False),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.Column("created_by", sa.String(64), nullable=False),
        sa.Column("revoked_at", sa.DateTime(), nullable=True),
        sa.PrimaryKeyConstraint("name", name=op.f("pk_accounts")),
        sa.CheckConstraint(ROLES, name=op.f("ck_accounts_role")),
    )
    op.create_table(
        "sessions",
        sa.Column("digest", sa.String(64), nullable=False),
        sa.Column("account", sa.String(60), nullable=False),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.Column("expires_at", sa.DateTime(), nullable=False),
        sa.PrimaryKeyConstraint("digest", name=op.f("pk_sessions")),
    )
    op.create_index("ix_sessions_account", "sessions", ["account"])
    op.create_index("ix_sessions_expires_at", "sessions", ["expires_at"])
    op.create_table(
        "audit_events",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("at", sa.DateTime(), nullable=False),
        sa.Column("actor", sa.String(64), nullable=False),
        sa.Column("action", sa.String(32), nullable=False),
        sa.Column("target", sa.Text(), nullable=False),
        sa.Column("source", sa.String(256), nullable=False),
        sa.Column("succeeded", sa.Boolean(), nullable=False),
        sa.Column("detail", sa.Text(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_audit_events")),
        sa.CheckConstraint(ACTIONS, name=op.f("ck_audit_events_action")),
    )
    op.create_table(
        "service_secrets",
        sa.Column("name", sa.String(64), nullable=False),
        sa.Column("value", sa.String(256), nullable=False),
        sa.PrimaryKeyConstraint("name", name=op.f("pk_service_secrets")),
    )


def downgrade() -> None:
    op.drop_table("service_secrets")
    op.drop_table("audit_events")
    op.drop_index("ix_sessions_expires_at", table_name="sessions")
    op.drop_index("ix_sessions_account", table_name="sessions")
    op.drop_table("sessions")
    op.drop_table("accounts")
    op.drop_table("api_keys")
    with op.batch_alter_table("transactions") as batch:
        batch.drop_column("submitted_by")
