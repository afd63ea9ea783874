"""Who may do what: roles, the permissions they grant, and the identities that hold them.

Systems call the API with keys; people sign in with a password (or, later, an
OIDC provider). Either way a request ends up with a :class:`Principal`: a
name, a role, and where it came from. Everything the service decides about
access reads the principal's permissions, never its kind of credential.
"""

from __future__ import annotations

import hashlib
import re
import secrets
from collections.abc import Callable, Mapping
from dataclasses import dataclass, replace
from datetime import datetime
from enum import StrEnum
from typing import Any

from fraud.domain.assessment import TransactionRecord
from fraud.domain.errors import FieldError, InvalidIdentity


class Permission(StrEnum):
    SUBMIT = "submit"  # POST transactions
    READ_OWN = "read_own"  # read the transactions one submitted: score, decision, reasons
    READ = "read"  # every transaction in full, the dashboard and the read APIs
    LABEL = "label"  # confirm or clear fraud
    RULES = "rules"  # write, test and switch on the rules that decide beside the model
    MODELS = "models"  # promote, roll back and challenge models (which one decides)
    CASES = "cases"  # claim, note and resolve review cases (a disposition is a label)
    LISTS = "lists"  # make lists and add or remove their entries (rules read them)
    ADMINISTER = "administer"  # keys, users, the audit log, review queues, webhooks
    SCRAPE = "scrape"  # the Prometheus metrics
    DOCS = "docs"  # the API's documentation


class Role(StrEnum):
    SUBMITTER = "submitter"
    VIEWER = "viewer"
    ANALYST = "analyst"
    ADMIN = "admin"
    METRICS = "metrics"


_VIEWER = frozenset({Permission.READ_OWN, Permission.READ, Permission.DOCS})
_ANALYST = _VIEWER | {Permission.LABEL, Permission.RULES, Permission.CASES, Permission.LISTS}

GRANTS: dict[Role, frozenset[Permission]] = {
    Role.SUBMITTER: frozenset({Permission.SUBMIT, Permission.READ_OWN, Permission.DOCS}),
    Role.VIEWER: _VIEWER,
    Role.ANALYST: _ANALYST,
    Role.ADMIN: _ANALYST | {Permission.ADMINISTER, Permission.MODELS},
    # The documentation holds nothing secret: every identity may read it, Prometheus' too.
    Role.METRICS: frozenset({Permission.SCRAPE, Permission.DOCS}),
}


def roles_with(permission: Permission) -> tuple[Role, ...]:
    """The roles that grant ``permission``, in the order roles are declared."""
    return tuple(role for role in Role if permission in GRANTS[role])


class Kind(StrEnum):
    USER = "user"  # a person, signed in
    KEY = "key"  # a system, with an API key


@dataclass(frozen=True, slots=True)
class Principal:
    """Who a request acts for. ``subject`` names it everywhere the service records who did
    something (labels, the audit log, who submitted a transaction): a person by their name,
    a system as ``key:<name>``, so the two can never be mistaken for each other."""

    name: str
    role: Role
    kind: Kind
    rate_limit: RateLimit | None = None  # None: the service's default

    @property
    def subject(self) -> str:
        return self.name if self.kind is Kind.USER else f"key:{self.name}"

    def may(self, permission: Permission) -> bool:
        return permission in GRANTS[self.role]


@dataclass(frozen=True, slots=True)
class Actor:
    """Who did something and from where, as the audit log records it: a principal's subject
    and its address, or ``cli:<account>`` and the host for the command line."""

    subject: str
    source: str


def seen_by(principal: Principal, record: TransactionRecord) -> TransactionRecord | None:
    """The record as ``principal`` may see it: in full with ``read``; with ``read_own`` only
    when it submitted it, and then only the verdict (no features the model saw, no later
    scorings, no analysts' labels or rules); otherwise not at all, as if it did not exist."""
    if principal.may(Permission.READ):
        return record
    if not principal.may(Permission.READ_OWN) or record.submitted_by != principal.subject:
        return None
    # Nor which of the analysts' rules hit it: their reasons say enough, their names and
    # versions are the team's own.
    assessment = record.assessment
    if assessment is not None:
        assessment = replace(assessment, rule_hits=(), rules_version=None, rule_faults=())
    return replace(
        record,
        assessment=assessment,
        features=None,
        versions=(),
        label=None,
        label_history=(),
    )


# --- names, secrets and limits ----------------------------------------------------------

NAME_MAX_LENGTH = 60  # so a subject (``key:`` and a name) fits in 64
_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._@-]*")
NAME_RULE = (
    f"must be 1 to {NAME_MAX_LENGTH} characters: letters, digits and . _ @ -, "
    "starting with a letter or digit"
)
KEY_PREFIX = "fraud_"
PASSWORD_MIN_LENGTH = 12
PASSWORD_MAX_LENGTH = 1024


def check_name(field: str, value: object) -> str:
    """``value`` as a user or key name, or :class:`InvalidIdentity` naming ``field``."""
    if not isinstance(value, str) or len(value) > NAME_MAX_LENGTH or not _NAME.fullmatch(value):
        raise InvalidIdentity([FieldError(field, NAME_RULE)])
    return value


def check_role(field: str, value: object) -> Role:
    try:
        return Role(str(value).strip().lower())
    except ValueError:
        raise InvalidIdentity(
            [FieldError(field, f"must be one of {', '.join(role.value for role in Role)}")]
        ) from None


def check_password(field: str, value: object) -> str:
    if not isinstance(value, str):
        raise InvalidIdentity([FieldError(field, "must be a string")])
    if not PASSWORD_MIN_LENGTH <= len(value) <= PASSWORD_MAX_LENGTH:
        raise InvalidIdentity(
            [
                FieldError(
                    field,
                    f"must be {PASSWORD_MIN_LENGTH} to {PASSWORD_MAX_LENGTH} characters long",
                )
            ]
        )
    return value


def new_key() -> str:
    """A new API key: 256 random bits, prefixed so secret scanners recognise it."""
    return KEY_PREFIX + secrets.token_urlsafe(32)


def new_password() -> str:
    return secrets.token_urlsafe(18)


def new_session_token() -> str:
    return secrets.token_urlsafe(32)


def digest(secret: str) -> str:
    """What is stored of a key or a session token: its SHA-256. Both are 256 random bits, so a
    fast hash is as good as a slow one here (nothing to guess), and a look-up is one index
    probe; people's passwords, which can be guessed, get argon2id instead."""
    return hashlib.sha256(secret.encode()).hexdigest()


_PERIODS = {"second": 1, "minute": 60, "hour": 3600, "day": 86400}
_RATE = re.compile(r"\s*([1-9][0-9]{0,8})\s*/\s*(second|minute|hour|day)\s*")
RATE_RULE = "must be COUNT/PERIOD, PERIOD one of second, minute, hour, day (e.g. 600/minute)"


@dataclass(frozen=True, slots=True)
class RateLimit:
    """How many requests one identity may make per period."""

    count: int
    period: str

    @classmethod
    def parse(cls, field: str, value: object) -> RateLimit:
        match = _RATE.fullmatch(value) if isinstance(value, str) else None
        if match is None:
            raise InvalidIdentity([FieldError(field, RATE_RULE)])
        return cls(int(match[1]), match[2])

    def __str__(self) -> str:
        return f"{self.count}/{self.period}"


# --- requests to create identities --------------------------------------------------------


def _fields(data: object, allowed: tuple[str, ...]) -> Mapping[str, Any]:
    if not isinstance(data, Mapping):
        raise InvalidIdentity([FieldError("body", "must be a JSON object")])
    unknown = sorted(set(data) - set(allowed))
    if unknown:
        raise InvalidIdentity(
            [FieldError(str(name), f"is not one of {', '.join(allowed)}") for name in unknown]
        )
    return data


def _each(*checks: Callable[[], object]) -> list[object]:
    """Run every check, and raise one :class:`InvalidIdentity` naming every broken field."""
    values: list[object] = []
    errors: list[FieldError] = []
    for check in checks:
        try:
            values.append(check())
        except InvalidIdentity as invalid:
            errors.extend(invalid.errors)
    if errors:
        raise InvalidIdentity(errors)
    return values


@dataclass(frozen=True, slots=True)
class KeyRequest:
    name: str
    role: Role
    rate_limit: RateLimit | None = None

    @classmethod
    def parse(cls, data: object) -> KeyRequest:
        body = _fields(data, ("name", "role", "rate_limit"))
        limit = body.get("rate_limit")
        name, role, rate_limit = _each(
            lambda: check_name("name", body.get("name")),
            lambda: check_role("role", body.get("role")),
            lambda: None if limit is None else RateLimit.parse("rate_limit", limit),
        )
        return cls(name, role, rate_limit)  # type: ignore[arg-type]


@dataclass(frozen=True, slots=True)
class AccountRequest:
    name: str
    role: Role
    password: str | None = None  # None: generate one

    @classmethod
    def parse(cls, data: object) -> AccountRequest:
        body = _fields(data, ("name", "role", "password"))
        password = body.get("password")
        name, role, chosen = _each(
            lambda: check_name("name", body.get("name")),
            lambda: check_role("role", body.get("role")),
            lambda: None if password is None else check_password("password", password),
        )
        return cls(name, role, chosen)  # type: ignore[arg-type]


# --- what the store keeps --------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class ApiKey:
    """A system's key, by the digest of its secret; the secret itself is shown once."""

    name: str
    role: Role
    digest: str
    created_at: datetime
    created_by: str
    rate_limit: RateLimit | None = None  # None: the service's default
    revoked_at: datetime | None = None

    def principal(self) -> Principal:
        return Principal(self.name, self.role, Kind.KEY, self.rate_limit)


@dataclass(frozen=True, slots=True)
class Account:
    """A person who signs in; ``password_hash`` is argon2id's encoded hash."""

    name: str
    role: Role
    password_hash: str
    created_at: datetime
    created_by: str
    revoked_at: datetime | None = None

    def principal(self) -> Principal:
        return Principal(self.name, self.role, Kind.USER)


@dataclass(frozen=True, slots=True)
class SignedIn:
    """A signed-in session, by the digest of the token its cookie carries. Signing out (or
    revoking the person) deletes it, so a copied cookie dies with it."""

    digest: str
    principal: Principal
    created_at: datetime
    expires_at: datetime


class AuditAction(StrEnum):
    KEY_CREATED = "key.created"
    KEY_REVOKED = "key.revoked"
    USER_CREATED = "user.created"
    USER_REVOKED = "user.revoked"
    PASSWORD_SET = "user.password_set"
    SIGN_IN = "sign_in"
    SIGN_OUT = "sign_out"
    LABEL = "label"
    RULE_ADDED = "rule.added"
    RULE_CHANGED = "rule.changed"
    MODEL_REGISTERED = "model.registered"
    MODEL_ROLE = "model.role"  # a promotion, a rollback, a challenger set or cleared
    MODEL_THRESHOLDS = "model.thresholds"  # thresholds set by a review budget
    MODEL_SIGNED = "model.signed"  # an archive registered before signing, signed by an admin
    CASE_RESOLVED = "case.resolved"  # a disposition (its label is audited as a label too)
    QUEUE_ADDED = "queue.added"
    QUEUE_CHANGED = "queue.changed"
    LIST_CREATED = "list.created"
    LIST_ENTRY_ADDED = "list.entry_added"
    LIST_ENTRY_REMOVED = "list.entry_removed"
    WEBHOOK_ADDED = "webhook.added"
    WEBHOOK_REMOVED = "webhook.removed"
    WEBHOOK_REPLAYED = "webhook.replayed"  # failed deliveries sent again


@dataclass(frozen=True, slots=True)
class AuditEvent:
    """One line of the audit log: who did what to what, when, from where, and whether it
    was allowed. ``detail`` is for a person and never holds a secret."""

    at: datetime
    actor: str
    action: AuditAction
    target: str
    source: str
    succeeded: bool = True
    detail: str = ""
    id: int | None = None  # assigned by the store, in the order events were appended
