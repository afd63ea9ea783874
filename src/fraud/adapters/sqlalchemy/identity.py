"""Keys, accounts, sessions, shared secrets and the audit log on SQLAlchemy Core.

The write side works on the unit of work's connection and never commits; the
read side (``SqlIdentityQueries``) borrows a pooled connection per question.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import delete, insert, select, update
from sqlalchemy.engine import Engine

from fraud.adapters.sqlalchemy.errors import transient_errors_translated
from fraud.adapters.sqlalchemy.repository import Executor, dialect_of, fetch
from fraud.adapters.sqlalchemy.tables import (
    accounts,
    api_keys,
    audit_events,
    service_secrets,
    sessions,
)
from fraud.adapters.sqlalchemy.upserts import insert_missing
from fraud.domain.identity import (
    Account,
    ApiKey,
    AuditAction,
    AuditEvent,
    RateLimit,
    Role,
    SignedIn,
)


class SqlIdentities:
    """The ``Identities`` port, written on the caller's transaction."""

    def __init__(self, executor: Executor) -> None:
        self._executor = executor

    def _insert_missing(self, table: Any, row: dict[str, Any]) -> bool:
        with transient_errors_translated():
            return bool(insert_missing(self._executor, table, [row], dialect_of(self._executor)))

    def _changed(self, statement: Any) -> int:
        with transient_errors_translated():
            return self._executor.execute(statement).rowcount or 0  # type: ignore[no-any-return]

    def add_key(self, key: ApiKey) -> bool:
        return self._insert_missing(
            api_keys,
            {
                "name": key.name,
                "role": key.role.value,
                "digest": key.digest,
                "rate_limit": None if key.rate_limit is None else str(key.rate_limit),
                "created_at": key.created_at,
                "created_by": key.created_by,
                "revoked_at": key.revoked_at,
            },
        )

    def revoke_key(self, name: str, at: datetime) -> bool:
        live = (api_keys.c.name == name) & api_keys.c.revoked_at.is_(None)
        return self._changed(update(api_keys).where(live).values(revoked_at=at)) > 0

    def add_account(self, account: Account) -> bool:
        return self._insert_missing(
            accounts,
            {
                "name": account.name,
                "role": account.role.value,
                "password_hash": account.password_hash,
                "created_at": account.created_at,
                "created_by": account.created_by,
                "revoked_at": account.revoked_at,
            },
        )

    def revoke_account(self, name: str, at: datetime) -> bool:
        live = (accounts.c.name == name) & accounts.c.revoked_at.is_(None)
        if not self._changed(update(accounts).where(live).values(revoked_at=at)):
            return False
        self._changed(delete(sessions).where(sessions.c.account == name))
        return True

    def set_password(self, name: str, password_hash: str) -> bool:
        live = (accounts.c.name == name) & accounts.c.revoked_at.is_(None)
        if not self._changed(update(accounts).where(live).values(password_hash=password_hash)):
            return False
        self._changed(delete(sessions).where(sessions.c.account == name))
        return True

    def open_session(self, session: SignedIn) -> None:
        row = {
            "digest": session.digest,
            "account": session.principal.name,
            "created_at": session.created_at,
            "expires_at": session.expires_at,
        }
        with transient_errors_translated():
            self._executor.execute(insert(sessions), [row])

    def close_session(self, digest: str) -> bool:
        return self._changed(delete(sessions).where(sessions.c.digest == digest)) > 0

    def close_expired_sessions(self, before: datetime) -> int:
        return self._changed(delete(sessions).where(sessions.c.expires_at <= before))

    def secret(self, name: str, candidate: str) -> str:
        self._insert_missing(service_secrets, {"name": name, "value": candidate})
        statement = select(service_secrets.c.value).where(service_secrets.c.name == name)
        (row,) = fetch(self._executor, statement)
        return str(row["value"])


class SqlAuditLog:
    """The ``AuditLog`` port: appends, on the caller's transaction."""

    def __init__(self, executor: Executor) -> None:
        self._executor = executor

    def append(self, events: Sequence[AuditEvent]) -> None:
        if not events:
            return
        rows = [
            {
                "at": event.at,
                "actor": event.actor[:64],
                "action": event.action.value,
                "target": event.target,
                "source": event.source[:256],
                "succeeded": event.succeeded,
                "detail": event.detail,
            }
            for event in events
        ]
        with transient_errors_translated():
            self._executor.execute(insert(audit_events), rows)


class SqlIdentityQueries:
    """The ``IdentityQueries`` and ``AuditQueries`` ports on the engine's database."""

    def __init__(self, engine: Engine) -> None:
        self._engine = engine

    def _fetch(self, statement: Any) -> list[Any]:
        with transient_errors_translated(), self._engine.connect() as connection:
            return fetch(connection, statement)

    def key(self, digest: str) -> ApiKey | None:
        rows = self._fetch(select(api_keys).where(api_keys.c.digest == digest))
        return _key(rows[0]) if rows else None

    def keys(self) -> list[ApiKey]:
        order = (api_keys.c.created_at.desc(), api_keys.c.name)
        return [_key(row) for row in self._fetch(select(api_keys).order_by(*order))]

    def account(self, name: str) -> Account | None:
        rows = self._fetch(select(accounts).where(accounts.c.name == name))
        return _account(rows[0]) if rows else None

    def accounts(self) -> list[Account]:
        order = (accounts.c.created_at.desc(), accounts.c.name)
        return [_account(row) for row in self._fetch(select(accounts).order_by(*order))]

    def session(self, digest: str) -> SignedIn | None:
        statement = (
            select(sessions, accounts.c.role, accounts.c.revoked_at)
            .join(accounts, accounts.c.name == sessions.c.account)
            .where(sessions.c.digest == digest)
        )
        rows = self._fetch(statement)
        if not rows or rows[0]["revoked_at"] is not None:
            return None
        row = rows[0]
        account = Account(row["account"], Role(row["role"]), "", row["created_at"], "")
        return SignedIn(row["digest"], account.principal(), row["created_at"], row["expires_at"])

    def audit(self, limit: int, before: int | None = None) -> list[AuditEvent]:
        statement = select(audit_events).order_by(audit_events.c.id.desc()).limit(max(limit, 0))
        if before is not None:
            statement = statement.where(audit_events.c.id < before)
        return [
            AuditEvent(
                at=row["at"],
                actor=row["actor"],
                action=AuditAction(row["action"]),
                target=row["target"],
                source=row["source"],
                succeeded=bool(row["succeeded"]),
                detail=row["detail"],
                id=row["id"],
            )
            for row in self._fetch(statement)
        ]


def _key(row: Mapping[str, Any]) -> ApiKey:
    limit = row["rate_limit"]
    return ApiKey(
        name=row["name"],
        role=Role(row["role"]),
        digest=row["digest"],
        created_at=row["created_at"],
        created_by=row["created_by"],
        rate_limit=None if limit is None else RateLimit.parse("rate_limit", limit),
        revoked_at=row["revoked_at"],
    )


def _account(row: Mapping[str, Any]) -> Account:
    return Account(
        name=row["name"],
        role=Role(row["role"]),
        password_hash=row["password_hash"],
        created_at=row["created_at"],
        created_by=row["created_by"],
        revoked_at=row["revoked_at"],
    )
