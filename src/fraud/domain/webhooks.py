"""Webhooks: decisions, resolved cases and labels pushed to the systems that act on them.

Each event has an id derived from what it is about (``decision.decline`` of a transaction
has one id however often its verdict is redelivered), so a receiver deduplicates by
``Fraud-Event-Id``. Each delivery is signed: ``Fraud-Signature: t=UNIX,v1=HEX``, HEX the
HMAC-SHA256 of ``t + "." + body`` under the subscription's secret; a receiver recomputes
it, compares in constant time, and refuses a ``t`` more than five minutes old.

Delivery is at least once: an event is written to an outbox in the same transaction as what
it tells, and sent from there with retries (exponential backoff) until the receiver answers
2xx; after the last attempt it is kept as failed and can be replayed.
"""

from __future__ import annotations

import hashlib
import hmac
import ipaddress
import secrets
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Any
from urllib.parse import urlsplit

from fraud.domain.assessment import AnalystLabel, Decision, TransactionRecord
from fraud.domain.cases import Case
from fraud.domain.errors import FieldError
from fraud.domain.rules import RuleMode, text_problem
from fraud.domain.transaction import Transaction

SIGNATURE_HEADER = "Fraud-Signature"
EVENT_ID_HEADER = "Fraud-Event-Id"
EVENT_TYPE_HEADER = "Fraud-Event-Type"
SECRET_PREFIX = "whsec_"
MAX_URL_LENGTH = 2_048
MAX_DESCRIPTION_LENGTH = 200
# How old a signature's timestamp may be when a receiver checks it (what DESIGN.md says).
SIGNATURE_TOLERANCE = timedelta(minutes=5)
# Event ids are derived from what the event is about, in a namespace of our own.
_EVENTS = "fraud-events-6f0a3a64"


class EventType(StrEnum):
    DECISION_DECLINE = "decision.decline"
    DECISION_REVIEW = "decision.review"
    CASE_RESOLVED = "case.resolved"
    LABEL_CREATED = "label.created"


class DeliveryStatus(StrEnum):
    PENDING = "pending"  # to be sent (again) at its next attempt
    DELIVERED = "delivered"
    FAILED = "failed"  # every attempt failed: kept, and replayable


class InvalidWebhook(ValueError):
    def __init__(self, errors: list[FieldError]) -> None:
        self.errors = tuple(errors)
        super().__init__("; ".join(str(error) for error in self.errors))


class UnknownSubscription(LookupError):
    def __init__(self, subscription_id: int) -> None:
        super().__init__(f"no webhook subscription {subscription_id}")


def event_id(event_type: EventType, about: str) -> str:
    """The event's id: the same for the same event whatever delivers or redelivers it, in a
    UUID's shape (a hash of what it is about: BLAKE2b costs a tenth of ``uuid5``, and one is
    made for every decline and review the record stage stores)."""
    digest = hashlib.blake2b(f"{_EVENTS}/{event_type.value}/{about}".encode(), digest_size=16)
    hexed = digest.hexdigest()
    return f"{hexed[:8]}-{hexed[8:12]}-{hexed[12:16]}-{hexed[16:20]}-{hexed[20:]}"


@dataclass(frozen=True, slots=True)
class WebhookEvent:
    """An event as every subscriber to its type receives it: the body is fixed when the
    event is written, so every attempt sends the same bytes."""

    id: str
    type: EventType
    occurred_at: datetime
    data: Mapping[str, Any]

    def document(self) -> dict[str, Any]:
        """The body's object: the id and type again (a receiver may log bodies alone)."""
        return {
            "id": self.id,
            "type": self.type.value,
            "occurred_at": self.occurred_at.isoformat().replace("+00:00", "Z"),
            "data": dict(self.data),
        }


@dataclass(frozen=True, slots=True)
class Subscription:
    """Where events of some types go. The secret signs them: the service must keep it to
    sign, so it is stored as given (unlike an API key, of which only a digest is kept), shown
    once when made, and never returned or logged after that."""

    id: int
    url: str
    events: tuple[EventType, ...]
    created_by: str
    created_at: datetime
    description: str = ""
    removed_at: datetime | None = None


@dataclass(frozen=True, slots=True)
class Delivery:
    """One event for one subscription: where it stands."""

    id: int
    subscription_id: int
    event_id: str
    event_type: EventType
    body: str
    status: DeliveryStatus
    attempts: int
    created_at: datetime
    next_attempt_at: datetime | None = None
    delivered_at: datetime | None = None
    last_error: str | None = None
    url: str = ""  # the subscription's, when claimed for sending


@dataclass(frozen=True, slots=True)
class Attempt:
    """One try at delivering: what the receiver answered (None: no answer) or what failed."""

    delivery_id: int
    subscription_id: int
    event_id: str
    at: datetime
    status_code: int | None
    error: str | None
    duration_ms: float

    @property
    def succeeded(self) -> bool:
        return self.status_code is not None and 200 <= self.status_code < 300


@dataclass(frozen=True, slots=True)
class RetryPolicy:
    """How often and how far apart a delivery is tried: ``first_delay`` after the first
    failure, doubling each time up to ``max_delay``, ``attempts`` in all."""

    attempts: int = 8
    first_delay: timedelta = timedelta(seconds=10)
    max_delay: timedelta = timedelta(hours=1)

    def after(self, attempts_made: int) -> timedelta | None:
        """When to try again after ``attempts_made`` attempts failed; None: give up."""
        if attempts_made >= self.attempts:
            return None
        doubled: timedelta = self.first_delay * (1 << min(max(attempts_made - 1, 0), 30))
        return min(doubled, self.max_delay)


def signature(secret: str, timestamp: int, body: bytes) -> str:
    """The ``Fraud-Signature`` header of a body sent at ``timestamp`` (Unix seconds)."""
    mac = hmac.new(secret.encode(), f"{timestamp}.".encode() + body, hashlib.sha256)
    return f"t={timestamp},v1={mac.hexdigest()}"


def verify(secret: str, header: str, body: bytes, now: int) -> bool:
    """What a receiver does: the signature matches and its timestamp is recent."""
    parts = dict(part.split("=", 1) for part in header.split(",") if "=" in part)
    try:
        timestamp = int(parts["t"])
    except (KeyError, ValueError):
        return False
    if abs(now - timestamp) > SIGNATURE_TOLERANCE.total_seconds():
        return False
    expected = signature(secret, timestamp, body).split("v1=", 1)[1]
    return hmac.compare_digest(expected, parts.get("v1", ""))


def new_secret() -> str:
    """A subscription's signing secret: 256 random bits, prefixed so scanners know it."""
    return SECRET_PREFIX + secrets.token_urlsafe(32)


# --- requests -------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class NewSubscription:
    url: str
    events: tuple[EventType, ...]
    description: str = ""

    @classmethod
    def parse(cls, data: object) -> NewSubscription:
        if not isinstance(data, Mapping):
            raise InvalidWebhook([FieldError("body", "must be a JSON object")])
        allowed = ("url", "events", "description")
        errors = [
            FieldError(str(name), f"is not one of {', '.join(allowed)}")
            for name in sorted(set(data) - set(allowed), key=str)
        ]
        url = data.get("url")
        if (problem := url_problem(url)) is not None:
            errors.append(FieldError("url", problem))
        events, problem = _events(data.get("events"))
        if problem is not None:
            errors.append(FieldError("events", problem))
        description = data.get("description", "")
        if not isinstance(description, str) or (
            description and text_problem(description, MAX_DESCRIPTION_LENGTH)
        ):
            errors.append(
                FieldError("description", f"must be at most {MAX_DESCRIPTION_LENGTH} characters")
            )
        if errors:
            raise InvalidWebhook(errors)
        return cls(str(url), events, str(description))


def _events(value: object) -> tuple[tuple[EventType, ...], str | None]:
    choices = ", ".join(event.value for event in EventType)
    rule = f"must be a non-empty list of: {choices}"
    if not isinstance(value, list | tuple) or not value:
        return (), rule
    try:
        return tuple(dict.fromkeys(EventType(str(event)) for event in value)), None
    except ValueError:
        return (), rule


def url_problem(url: object) -> str | None:
    """What is wrong with a receiver's URL: http(s), a host, no credentials in it. Whether
    its host may be a private address is the deployment's choice, checked at delivery."""
    if not isinstance(url, str) or not url or len(url) > MAX_URL_LENGTH:
        return f"must be an http or https URL of at most {MAX_URL_LENGTH} characters"
    try:
        parts = urlsplit(url)
        parts.port  # noqa: B018 (a port that is not a number raises here)
    except ValueError:
        return "must be an http or https URL"
    if parts.scheme not in ("http", "https") or not parts.hostname:
        return "must be an http or https URL with a host"
    if parts.username or parts.password:
        return "must not carry credentials (the signature proves who sends)"
    if not url.isprintable() or " " in url:
        return "must not contain spaces or control characters"
    return None


def forbidden_address(address: str, private_allowed: bool) -> str | None:
    """Why a receiver at ``address`` (an IP) may not be called, or None. Link-local
    addresses (a cloud's metadata service at 169.254.169.254) never; loopback, private and
    other internal ranges only where the deployment allows them."""
    ip = ipaddress.ip_address(address)
    if ip.is_link_local or ip.is_multicast or ip.is_unspecified or ip.is_reserved:
        return f"{address} is a link-local, multicast or reserved address"
    if not private_allowed and (ip.is_private or ip.is_loopback or not ip.is_global):
        return (
            f"{address} is a private or loopback address "
            "(FRAUD_WEBHOOK_PRIVATE_ADDRESSES=allow lets receivers inside the network)"
        )
    return None


# --- the events -------------------------------------------------------------------------------

_DECISION_EVENTS = {
    Decision.DECLINE: EventType.DECISION_DECLINE,
    Decision.REVIEW: EventType.DECISION_REVIEW,
}


def decision_event(record: TransactionRecord) -> WebhookEvent | None:
    """``decision.decline`` or ``decision.review`` of a decided transaction (None for an
    approval): the transaction and its verdict, with the active rules that hit."""
    assessment = record.assessment
    if assessment is None or assessment.decision not in _DECISION_EVENTS:
        return None
    kind = _DECISION_EVENTS[assessment.decision]
    transaction = record.transaction
    return WebhookEvent(
        event_id(kind, transaction.transaction_id),
        kind,
        assessment.scored_at,
        {
            "transaction": transaction.to_dict(),
            "decision": assessment.decision.value,
            "fraud_score": round(assessment.fraud_score, 6),
            "reasons": list(assessment.reasons),
            "rules": [hit.name for hit in assessment.rule_hits if hit.mode is RuleMode.ACTIVE],
            "model_version": assessment.model_version,
        },
    )


def case_resolved_event(case: Case, at: datetime) -> WebhookEvent:
    """``case.resolved``: the case, its disposition and who gave it."""
    assert case.disposition is not None
    return WebhookEvent(
        event_id(EventType.CASE_RESOLVED, str(case.id)),
        EventType.CASE_RESOLVED,
        at,
        {
            "case_id": case.id,
            "transaction_id": case.transaction_id,
            "user_id": case.user_id,
            "queue": case.queue,
            "disposition": case.disposition.value,
            "resolved_by": case.resolved_by,
        },
    )


def label_created_event(transaction: Transaction, label: AnalystLabel) -> WebhookEvent:
    """``label.created``: a transaction labelled fraud or not, by whom, when (each label its
    own event: a transaction labelled again makes another)."""
    labelled_at = label.labelled_at.isoformat()
    return WebhookEvent(
        event_id(EventType.LABEL_CREATED, f"{transaction.transaction_id}/{labelled_at}"),
        EventType.LABEL_CREATED,
        label.labelled_at,
        {
            "transaction_id": transaction.transaction_id,
            "user_id": transaction.user_id,
            "is_fraud": label.is_fraud,
            "analyst": label.analyst,
        },
    )
