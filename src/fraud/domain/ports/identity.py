"""Where identities are kept, how passwords are checked, and the audit log.

The write side (keys, accounts, sessions, audit events) is part of the unit of
work, so a label and its audit event land together or not at all; the read
side answers the per-request questions (whose key is this, is this session
alive) outside any transaction.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Protocol

from fraud.domain.identity import Account, ApiKey, AuditEvent, SignedIn


class Identities(Protocol):
    """Keys, accounts and signed-in sessions: what may be added, revoked and closed."""

    def add_key(self, key: ApiKey) -> bool:
        """Store a key; False when its name is taken (revoked keys keep theirs)."""

    def revoke_key(self, name: str, at: datetime) -> bool:
        """Revoke the live key of that name; False when there is none."""

    def add_account(self, account: Account) -> bool:
        """Store an account; False when its name is taken."""

    def revoke_account(self, name: str, at: datetime) -> bool:
        """Revoke the live account of that name and close its sessions; False when none."""

    def set_password(self, name: str, password_hash: str) -> bool:
        """Replace a live account's password hash and close its sessions; False when none."""

    def open_session(self, session: SignedIn) -> None: ...

    def close_session(self, digest: str) -> bool:
        """Close a session; False when it was not open."""

    def close_expired_sessions(self, before: datetime) -> int: ...

    def secret(self, name: str, candidate: str) -> str:
        """The service's secret of that name: ``candidate`` if none was stored yet (it is
        then stored), else the stored one, so every process agrees on it."""


class AuditLog(Protocol):
    """Append-only: nothing here edits or deletes an event."""

    def append(self, events: Sequence[AuditEvent]) -> None: ...


class IdentityQueries(Protocol):
    """What each request asks: whose key or session is this."""

    def key(self, digest: str) -> ApiKey | None:
        """The key with this digest, live or revoked."""

    def keys(self) -> list[ApiKey]:
        """Every key, newest first."""

    def account(self, name: str) -> Account | None: ...

    def accounts(self) -> list[Account]:
        """Every account, newest first."""

    def session(self, digest: str) -> SignedIn | None:
        """The open session with this digest (expired ones included: the caller judges)."""


class AuditQueries(Protocol):
    def audit(self, limit: int, before: int | None = None) -> list[AuditEvent]:
        """The latest events, newest first; ``before`` an event id to page back from."""


class PasswordHasher(Protocol):
    def hash(self, password: str) -> str: ...

    def verify(self, password_hash: str, password: str) -> bool:
        """Whether the password is the one hashed; never raises for a wrong one."""

    def dummy_verify(self) -> None:
        """Spend the time a verification takes, for a name that does not exist, so the
        answer's timing does not tell which names do."""
