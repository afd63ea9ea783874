"""Webhooks: subscriptions, the outbox of deliveries (written in the unit of work of what
each event tells), their attempts, and the receivers they are sent to."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Protocol

from fraud.domain.webhooks import Attempt, Delivery, DeliveryStatus, Subscription, WebhookEvent


@dataclass(frozen=True, slots=True)
class ClaimedDelivery:
    """A delivery claimed for sending, with where and with what to sign it."""

    delivery: Delivery
    url: str
    secret: str


@dataclass(frozen=True, slots=True)
class Settled:
    """What became of a claimed delivery: delivered, to be tried again at
    ``next_attempt_at``, or failed for good."""

    delivery_id: int
    status: DeliveryStatus
    attempts: int
    next_attempt_at: datetime | None
    last_error: str | None
    at: datetime


class WebhookRepository(Protocol):
    """Subscriptions and the delivery outbox, written on the caller's transaction."""

    def subscribe(self, subscription: Subscription, secret: str) -> Subscription:
        """Store a subscription (the store gives it its id) with its signing secret."""

    def unsubscribe(self, subscription_id: int, at: datetime) -> bool:
        """Stop sending to it (its deliveries stay in its log); False when there is none."""

    def enqueue(self, events: Sequence[WebhookEvent], at: datetime) -> None:
        """A delivery of each event to every live subscription to its type, once per event
        and subscription however often this is asked (an event id is what it is about)."""

    def claim(
        self, owner: str, now: datetime, lease_until: datetime, limit: int
    ) -> list[ClaimedDelivery]:
        """Pending deliveries due by ``now`` that nobody holds (or whose holder's lease ran
        out), oldest due first, held for ``owner`` until ``lease_until``: of several
        processes claiming at once, each delivery goes to one."""

    def settle(self, owner: str, outcomes: Sequence[Settled], attempts: Sequence[Attempt]) -> None:
        """Record what the attempts gave, for the deliveries ``owner`` still holds, and log
        every attempt."""

    def replay(self, subscription_id: int, at: datetime, delivery_ids: Sequence[int] = ()) -> int:
        """Make failed deliveries of the subscription pending again (all of them, or these),
        due at ``at``, their attempts counted afresh; returns how many."""


class WebhookQueries(Protocol):
    def subscriptions(self) -> list[Subscription]:
        """Every subscription, removed ones too, oldest first."""

    def subscription(self, subscription_id: int) -> Subscription | None: ...

    def deliveries(
        self, subscription_id: int, status: DeliveryStatus | None, limit: int
    ) -> list[Delivery]:
        """The subscription's deliveries, newest first."""

    def attempts(self, subscription_id: int, limit: int) -> list[Attempt]:
        """The subscription's delivery log: every attempt, newest first."""

    def backlog(self) -> Mapping[DeliveryStatus, int]:
        """How many deliveries stand in each status."""

    def next_due(self) -> datetime | None:
        """When the earliest pending delivery falls due (held by a sender or not); None when
        none is pending. A read: a sender with nothing due asks it instead of claiming, which
        writes."""


@dataclass(frozen=True, slots=True)
class SendResult:
    """What a receiver answered: its status code (None: no answer) or what went wrong."""

    status_code: int | None
    error: str | None
    seconds: float


class WebhookSender(Protocol):
    """Sends one signed event to a receiver, within a bounded time."""

    def send(self, url: str, body: bytes, headers: Mapping[str, str]) -> SendResult:
        """POST ``body``; never raises for what the receiver or the network does."""

    def refusal(self, url: str) -> str | None:
        """Why a receiver at ``url`` may not be called from here (an address the deployment
        keeps out of reach), or None."""
