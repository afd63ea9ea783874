"""Identity and access: keys for systems, accounts for people, signing in, and the audit
log every one of these changes is written to in the same unit of work.

A secret (a key, a generated password) is returned once to whoever asked for
it and never kept: only its digest or hash is stored, and no log line or
audit event holds it.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from functools import partial
from typing import TypeVar

import structlog
from cachetools import TTLCache

from fraud.domain.errors import IdentityConflict, UnknownIdentity
from fraud.domain.identity import (
    Account,
    Actor,
    ApiKey,
    AuditAction,
    AuditEvent,
    Principal,
    RateLimit,
    Role,
    SignedIn,
    check_name,
    check_password,
    digest,
    new_key,
    new_password,
    new_session_token,
)
from fraud.domain.ports import (
    AuditQueries,
    Clock,
    IdentityQueries,
    PasswordHasher,
    UnitOfWorkFactory,
)
from fraud.domain.rules import RuleChange

log = structlog.get_logger(__name__)

SESSION_LIFETIME = timedelta(hours=8)
Remembered = TypeVar("Remembered", ApiKey, SignedIn)
_NOT_REMEMBERED = object()
# How long a request may act on what it learnt of a key or a session: a revoked key, a closed
# session stop working within this (the issue: within a second), and meanwhile each is read
# from the store at most once per interval per process instead of once per request.
RECHECK_AFTER_S = 0.5
# How long a key found live stays known as one to a caller that bounds look-ups: a client
# whose key works is not held back with others from its address (see Authenticate.key).
KNOWN_LIVE_S = 600.0


@dataclass(frozen=True, slots=True)
class IssuedKey:
    key: ApiKey
    secret: str  # shown once to whoever created it, never stored


@dataclass(frozen=True, slots=True)
class AddedAccount:
    account: Account
    password: str | None  # the generated password, shown once; None when one was given


class ManageKeys:
    """Create, revoke and list the keys systems call the API with."""

    def __init__(
        self, unit_of_work: UnitOfWorkFactory, queries: IdentityQueries, clock: Clock
    ) -> None:
        self.unit_of_work = unit_of_work
        self.queries = queries
        self.clock = clock

    def create(
        self, name: str, role: Role, by: Actor, rate_limit: RateLimit | None = None
    ) -> IssuedKey:
        check_name("name", name)
        secret = new_key()
        now = self.clock.now()
        key = ApiKey(name, role, digest(secret), now, by.subject, rate_limit)
        with self.unit_of_work() as uow:
            if not uow.identities.add_key(key):
                raise IdentityConflict(f"a key named {name!r} exists (revoked keys keep names)")
            detail = f"role {role}" + (f", limit {rate_limit}" if rate_limit else "")
            uow.audit.append([_event(by, AuditAction.KEY_CREATED, f"key:{name}", now, detail)])
            uow.commit()
        log.info("key created", key=name, role=role.value, by=by.subject)
        return IssuedKey(key, secret)

    def revoke(self, name: str, by: Actor) -> None:
        now = self.clock.now()
        with self.unit_of_work() as uow:
            if not uow.identities.revoke_key(name, now):
                raise UnknownIdentity(f"no live key named {name!r}")
            uow.audit.append([_event(by, AuditAction.KEY_REVOKED, f"key:{name}", now)])
            uow.commit()
        log.info("key revoked", key=name, by=by.subject)

    def list(self) -> list[ApiKey]:
        return self.queries.keys()


class ManageAccounts:
    """Add, revoke and list the people who sign in, and set their passwords."""

    def __init__(
        self,
        unit_of_work: UnitOfWorkFactory,
        queries: IdentityQueries,
        hasher: PasswordHasher,
        clock: Clock,
    ) -> None:
        self.unit_of_work = unit_of_work
        self.queries = queries
        self.hasher = hasher
        self.clock = clock

    def add(self, name: str, role: Role, by: Actor, password: str | None = None) -> AddedAccount:
        """The account; with a generated password when none is given."""
        check_name("name", name)
        generated = new_password() if password is None else None
        chosen = check_password("password", password if generated is None else generated)
        now = self.clock.now()
        account = Account(name, role, self.hasher.hash(chosen), now, by.subject)
        with self.unit_of_work() as uow:
            if not uow.identities.add_account(account):
                raise IdentityConflict(f"a user named {name!r} exists (revoked users keep names)")
            uow.audit.append([_event(by, AuditAction.USER_CREATED, name, now, f"role {role}")])
            uow.commit()
        log.info("user created", user=name, role=role.value, by=by.subject)
        return AddedAccount(account, generated)

    def revoke(self, name: str, by: Actor) -> None:
        now = self.clock.now()
        with self.unit_of_work() as uow:
            if not uow.identities.revoke_account(name, now):
                raise UnknownIdentity(f"no live user named {name!r}")
            uow.audit.append([_event(by, AuditAction.USER_REVOKED, name, now)])
            uow.commit()
        log.info("user revoked", user=name, by=by.subject)

    def set_password(self, name: str, by: Actor, password: str | None = None) -> str | None:
        """Set a new password (generated when none is given: returned) and sign the person
        out everywhere."""
        generated = new_password() if password is None else None
        chosen = check_password("password", password if generated is None else generated)
        now = self.clock.now()
        with self.unit_of_work() as uow:
            if not uow.identities.set_password(name, self.hasher.hash(chosen)):
                raise UnknownIdentity(f"no live user named {name!r}")
            uow.audit.append([_event(by, AuditAction.PASSWORD_SET, name, now)])
            uow.commit()
        return generated

    def list(self) -> list[Account]:
        return self.queries.accounts()


class SignIn:
    """A person signs in with a name and a password and gets a session; every attempt, let
    in or not, is in the audit log."""

    def __init__(
        self,
        unit_of_work: UnitOfWorkFactory,
        queries: IdentityQueries,
        hasher: PasswordHasher,
        clock: Clock,
        lifetime: timedelta = SESSION_LIFETIME,
    ) -> None:
        self.unit_of_work = unit_of_work
        self.queries = queries
        self.hasher = hasher
        self.clock = clock
        self.lifetime = lifetime

    def __call__(self, name: str, password: str, source: str) -> tuple[SignedIn, str] | None:
        """The session and the token its cookie carries, or None (wrong name or password:
        the caller cannot tell which)."""
        account = self.queries.account(name) if name else None
        if account is None:
            self.hasher.dummy_verify()
            refused = "unknown user"
        elif account.revoked_at is not None:
            self.hasher.dummy_verify()
            refused = "revoked user"
        elif not self.hasher.verify(account.password_hash, password):
            refused = "wrong password"
        else:
            refused = ""
        now = self.clock.now()
        who = Actor(name[:64] or "(blank)", source)
        if account is None or refused:
            with self.unit_of_work() as uow:
                uow.audit.append(
                    [_event(who, AuditAction.SIGN_IN, who.subject, now, refused, succeeded=False)]
                )
                uow.commit()
            log.info("sign-in refused", user=who.subject, reason=refused)
            return None
        token = new_session_token()
        session = SignedIn(digest(token), account.principal(), now, now + self.lifetime)
        with self.unit_of_work() as uow:
            uow.identities.close_expired_sessions(now)
            uow.identities.open_session(session)
            uow.audit.append([_event(who, AuditAction.SIGN_IN, name, now)])
            uow.commit()
        log.info("signed in", user=name)
        return session, token

    def sign_out(self, token: str, by: Actor) -> None:
        now = self.clock.now()
        with self.unit_of_work() as uow:
            if uow.identities.close_session(digest(token)):
                uow.audit.append([_event(by, AuditAction.SIGN_OUT, by.subject, now)])
            uow.commit()


class Authenticate:
    """Whose key, whose session: answered from the store, each answer kept for
    ``RECHECK_AFTER_S`` so a request costs no store round trip in the common case."""

    def __init__(
        self,
        queries: IdentityQueries,
        clock: Clock,
        recheck_after_s: float = RECHECK_AFTER_S,
        timer: Callable[[], float] = time.monotonic,
    ) -> None:
        self.queries = queries
        self.clock = clock
        self._keys: TTLCache[str, ApiKey | None] = TTLCache(4096, recheck_after_s, timer)
        self._sessions: TTLCache[str, SignedIn | None] = TTLCache(4096, recheck_after_s, timer)
        self._known_live: TTLCache[str, bool] = TTLCache(4096, KNOWN_LIVE_S, timer)
        self._lock = threading.Lock()

    def key(self, secret: str, before_asking: Callable[[], None] | None = None) -> Principal | None:
        """The live key's principal, or None for an unknown or revoked one.

        ``before_asking`` runs before the store is asked about a key that this process has
        not found live in the last ``KNOWN_LIVE_S``: a caller that bounds the look-ups (the
        HTTP API, per address) refuses there by raising, and a made-up key cannot pass for
        one that works."""
        hashed = digest(secret)
        gate = None if before_asking is None else partial(self._unless_known, hashed, before_asking)
        key = self._remembered(self._keys, hashed, self._look_up_key, gate)
        return key.principal() if key is not None and key.revoked_at is None else None

    def _look_up_key(self, hashed: str) -> ApiKey | None:
        key = self.queries.key(hashed)
        if key is not None and key.revoked_at is None:
            with self._lock:
                self._known_live[hashed] = True
        return key

    def _unless_known(self, hashed: str, before_asking: Callable[[], None]) -> None:
        with self._lock:
            known = hashed in self._known_live
        if not known:
            before_asking()

    def session(self, token: str) -> Principal | None:
        """The signed-in person, or None when the session is closed or expired."""
        session = self._remembered(self._sessions, digest(token), self.queries.session)
        if session is None or session.expires_at <= self.clock.now():
            return None
        return session.principal

    def _remembered(
        self,
        cache: TTLCache[str, Remembered | None],
        hashed: str,
        look_up: Callable[[str], Remembered | None],
        before_asking: Callable[[], None] | None = None,
    ) -> Remembered | None:
        with self._lock:  # one read: an entry may expire between two
            found = cache.get(hashed, _NOT_REMEMBERED)
        if found is not _NOT_REMEMBERED:
            return found  # type: ignore[return-value]
        if before_asking is not None:
            before_asking()
        answer = look_up(hashed)
        with self._lock:
            cache[hashed] = answer
        return answer

    def forget_session(self, token: str) -> None:
        """A session this process closed is closed here at once (others within
        ``RECHECK_AFTER_S``)."""
        with self._lock:
            self._sessions.pop(digest(token), None)


class ServiceSecret:
    """A secret every process of the service must share (the key that signs session
    cookies): the configured one, or one generated by whichever process asks first and kept
    in the store for the others."""

    def __init__(self, unit_of_work: UnitOfWorkFactory, configured: str | None = None) -> None:
        self.unit_of_work = unit_of_work
        self.configured = configured

    def __call__(self, name: str) -> str:
        if self.configured:
            return self.configured
        with self.unit_of_work() as uow:
            value = uow.identities.secret(name, new_session_token())
            uow.commit()
        return value


class AuditTrail:
    """The audit log, newest first."""

    def __init__(self, queries: AuditQueries) -> None:
        self.queries = queries

    def __call__(self, limit: int = 100, before: int | None = None) -> list[AuditEvent]:
        return self.queries.audit(limit, before)


@dataclass(frozen=True, slots=True)
class FirstCredentials:
    administrator: AddedAccount
    submitter: IssuedKey


FIRST_ADMIN = "admin"
FIRST_KEY = "submitter"


class FirstRun:
    """On a store with no accounts yet: an administrator with a generated password and a key
    to submit with, so a first start needs no other step. Both are shown once; of several
    processes starting together, one creates them and the others find them there."""

    def __init__(self, accounts: ManageAccounts, keys: ManageKeys, by: Actor) -> None:
        self.accounts = accounts
        self.keys = keys
        self.by = by

    def __call__(self) -> FirstCredentials | None:
        if self.accounts.list():
            return None
        try:
            administrator = self.accounts.add(FIRST_ADMIN, Role.ADMIN, self.by)
        except IdentityConflict:
            return None  # another process made it first
        try:
            submitter = self.keys.create(FIRST_KEY, Role.SUBMITTER, self.by)
        except IdentityConflict:
            submitter = self.keys.create(f"{FIRST_KEY}-{int(time.time())}", Role.SUBMITTER, self.by)
        return FirstCredentials(administrator, submitter)


def _event(
    by: Actor,
    action: AuditAction,
    target: str,
    at: datetime,
    detail: str = "",
    *,
    succeeded: bool = True,
) -> AuditEvent:
    return AuditEvent(at, by.subject, action, target, by.source, succeeded, detail)


def labelled(by: Actor, transaction_ids: Sequence[str], is_fraud: bool, at: datetime) -> AuditEvent:
    """The audit event of a label."""
    verdict = "fraud" if is_fraud else "not fraud"
    return _event(by, AuditAction.LABEL, ", ".join(transaction_ids), at, verdict)


def rule_event(by: Actor, action: AuditAction, change: RuleChange, detail: str) -> AuditEvent:
    """The audit event of a rule's change."""
    return _event(by, action, change.rule.name, change.at, detail)


def model_event(
    by: Actor, action: AuditAction, version: str, at: datetime, detail: str = ""
) -> AuditEvent:
    """The audit event of a model registered, or of a change of who decides."""
    return _event(by, action, version, at, detail)


def list_event(by: Actor, action: AuditAction, name: str, at: datetime, detail: str) -> AuditEvent:
    """The audit event of a change of a value list (its target: ``list:NAME``)."""
    return _event(by, action, f"list:{name}", at, detail)


def audited(by: Actor, action: AuditAction, target: str, at: datetime, detail: str) -> AuditEvent:
    """The audit event of a case resolved, or of a queue or a webhook subscription changed."""
    return _event(by, action, target, at, detail)
