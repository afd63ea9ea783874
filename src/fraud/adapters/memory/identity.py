"""Keys, accounts, sessions, secrets and the audit log in memory: the same contracts as
the SQL adapter, staged in the unit of work like every other write."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace
from datetime import datetime
from functools import partial
from typing import Any

from fraud.adapters.memory.state import Staged, State
from fraud.domain.identity import Account, ApiKey, AuditEvent, SignedIn


def _add(state: State, table: str, name: str, item: Any) -> bool:
    rows = getattr(state, table)
    if name in rows:
        return False
    rows[name] = item
    return True


def _revoke_key(state: State, name: str, at: datetime) -> bool:
    key = state.keys.get(name)
    if key is None or key.revoked_at is not None:
        return False
    state.keys[name] = replace(key, revoked_at=at)
    return True


def _close_sessions_of(state: State, name: str) -> None:
    for digest in [d for d, s in state.sessions.items() if s.principal.name == name]:
        del state.sessions[digest]


def _revoke_account(state: State, name: str, at: datetime) -> bool:
    account = state.accounts.get(name)
    if account is None or account.revoked_at is not None:
        return False
    state.accounts[name] = replace(account, revoked_at=at)
    _close_sessions_of(state, name)
    return True


def _set_password(state: State, name: str, password_hash: str) -> bool:
    account = state.accounts.get(name)
    if account is None or account.revoked_at is not None:
        return False
    state.accounts[name] = replace(account, password_hash=password_hash)
    _close_sessions_of(state, name)
    return True


def _close_session(state: State, digest: str) -> bool:
    return state.sessions.pop(digest, None) is not None


def _close_expired(state: State, before: datetime) -> int:
    expired = [d for d, s in state.sessions.items() if s.expires_at <= before]
    for digest in expired:
        del state.sessions[digest]
    return len(expired)


def _append(state: State, events: Sequence[AuditEvent]) -> None:
    for event in events:
        number = len(state.audit) + 1
        state.audit[number] = replace(event, id=number)


def _secret(state: State, name: str, candidate: str) -> str:
    return state.secrets.setdefault(name, candidate)


class InMemoryIdentities:
    def __init__(self, staged: Staged) -> None:
        self._staged = staged

    def _write(self, write: Any) -> Any:
        return self._staged.write(write)

    def add_key(self, key: ApiKey) -> bool:
        return bool(self._write(partial(_add, table="keys", name=key.name, item=key)))

    def revoke_key(self, name: str, at: datetime) -> bool:
        return bool(self._write(partial(_revoke_key, name=name, at=at)))

    def add_account(self, account: Account) -> bool:
        return bool(self._write(partial(_add, table="accounts", name=account.name, item=account)))

    def revoke_account(self, name: str, at: datetime) -> bool:
        return bool(self._write(partial(_revoke_account, name=name, at=at)))

    def set_password(self, name: str, password_hash: str) -> bool:
        return bool(self._write(partial(_set_password, name=name, password_hash=password_hash)))

    def open_session(self, session: SignedIn) -> None:
        self._write(partial(_add, table="sessions", name=session.digest, item=session))

    def close_session(self, digest: str) -> bool:
        return bool(self._write(partial(_close_session, digest=digest)))

    def close_expired_sessions(self, before: datetime) -> int:
        return int(self._write(partial(_close_expired, before=before)))

    def secret(self, name: str, candidate: str) -> str:
        return str(self._write(partial(_secret, name=name, candidate=candidate)))


class InMemoryAuditLog:
    def __init__(self, staged: Staged) -> None:
        self._staged = staged

    def append(self, events: Sequence[AuditEvent]) -> None:
        self._staged.write(partial(_append, events=list(events)))


class InMemoryIdentityQueries:
    """The read side of identities, over the committed state (``self.state``)."""

    state: State

    def key(self, digest: str) -> ApiKey | None:
        return next((k for k in self.state.keys.values() if k.digest == digest), None)

    def keys(self) -> list[ApiKey]:
        return sorted(self.state.keys.values(), key=lambda k: (-k.created_at.timestamp(), k.name))

    def account(self, name: str) -> Account | None:
        return self.state.accounts.get(name)

    def accounts(self) -> list[Account]:
        return sorted(
            self.state.accounts.values(), key=lambda a: (-a.created_at.timestamp(), a.name)
        )

    def session(self, digest: str) -> SignedIn | None:
        return self.state.sessions.get(digest)

    def audit(self, limit: int, before: int | None = None) -> list[AuditEvent]:
        numbers = sorted(
            (n for n in self.state.audit if before is None or n < before), reverse=True
        )
        return [self.state.audit[n] for n in numbers[: max(limit, 0)]]
