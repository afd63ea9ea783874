"""Webhooks: subscriptions (admins; every change audited), and the sender that delivers the
outbox's events, signed, retried with exponential backoff, kept as failed after the last
attempt and replayable.

The sender runs in a thread of its own in the processes that record verdicts (``fraud
run``; ``fraud worker`` with the record stage), never in the pipeline's thread: a slow or
failing receiver costs a decision nothing. Each round claims due deliveries with a lease
(the store gives each to one process, however many senders run), sends them a few at a
time with a bounded timeout, then records every outcome and attempt. A process killed
mid-round leaves its lease to run out; another round takes the deliveries again, so an
event may arrive twice, never not at all: receivers deduplicate by ``Fraud-Event-Id``.
"""

from __future__ import annotations

import os
import socket
import threading
import uuid
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import datetime, timedelta

import structlog

from fraud import __version__
from fraud.application.identity import audited
from fraud.domain.errors import FieldError, TransientFailure
from fraud.domain.identity import Actor, AuditAction
from fraud.domain.ports import Clock, UnitOfWorkFactory
from fraud.domain.ports.webhooks import (
    ClaimedDelivery,
    SendResult,
    Settled,
    WebhookQueries,
    WebhookSender,
)
from fraud.domain.webhooks import (
    EVENT_ID_HEADER,
    EVENT_TYPE_HEADER,
    SIGNATURE_HEADER,
    Attempt,
    Delivery,
    DeliveryStatus,
    InvalidWebhook,
    NewSubscription,
    RetryPolicy,
    Subscription,
    UnknownSubscription,
    new_secret,
    signature,
)

log = structlog.get_logger(__name__)

MAX_LISTED = 500


@dataclass(frozen=True, slots=True)
class MadeSubscription:
    subscription: Subscription
    secret: str  # shown once to whoever made it, never again


class ManageWebhooks:
    """Add, remove and read subscriptions, their deliveries and attempts; replay failures."""

    def __init__(
        self,
        unit_of_work: UnitOfWorkFactory,
        queries: WebhookQueries,
        sender: WebhookSender,
        clock: Clock,
    ) -> None:
        self.unit_of_work = unit_of_work
        self.queries = queries
        self.sender = sender
        self.clock = clock

    def subscriptions(self) -> list[Subscription]:
        return self.queries.subscriptions()

    def get(self, subscription_id: int) -> Subscription:
        found = self.queries.subscription(subscription_id)
        if found is None:
            raise UnknownSubscription(subscription_id)
        return found

    def add(self, request: NewSubscription, by: Actor) -> MadeSubscription:
        if (refused := self.sender.refusal(request.url)) is not None:
            raise InvalidWebhook([FieldError("url", refused)])
        now = self.clock.now()
        secret = new_secret()
        wanted = Subscription(0, request.url, request.events, by.subject, now, request.description)
        with self.unit_of_work() as uow:
            made = uow.webhooks.subscribe(wanted, secret)
            events = ", ".join(event.value for event in made.events)
            detail = f"{made.url} for {events}"
            target = f"webhook:{made.id}"
            uow.audit.append([audited(by, AuditAction.WEBHOOK_ADDED, target, now, detail)])
            uow.commit()
        log.info("webhook added", subscription=made.id, url=made.url, by=by.subject)
        return MadeSubscription(made, secret)

    def remove(self, subscription_id: int, by: Actor) -> None:
        now = self.clock.now()
        with self.unit_of_work() as uow:
            if not uow.webhooks.unsubscribe(subscription_id, now):
                raise UnknownSubscription(subscription_id)
            target = f"webhook:{subscription_id}"
            uow.audit.append([audited(by, AuditAction.WEBHOOK_REMOVED, target, now, "")])
            uow.commit()
        log.info("webhook removed", subscription=subscription_id, by=by.subject)

    def deliveries(
        self, subscription_id: int, status: DeliveryStatus | None = None, limit: int = 100
    ) -> list[Delivery]:
        self.get(subscription_id)
        return self.queries.deliveries(subscription_id, status, min(limit, MAX_LISTED))

    def attempts(self, subscription_id: int, limit: int = 100) -> list[Attempt]:
        self.get(subscription_id)
        return self.queries.attempts(subscription_id, min(limit, MAX_LISTED))

    def replay(self, subscription_id: int, by: Actor, delivery_ids: Sequence[int] = ()) -> int:
        """Send failed deliveries again (all of the subscription's, or these), their attempts
        counted afresh; returns how many."""
        subscription = self.get(subscription_id)
        if subscription.removed_at is not None:
            raise InvalidWebhook([FieldError("subscription", "is removed: add it again")])
        now = self.clock.now()
        with self.unit_of_work() as uow:
            replayed = uow.webhooks.replay(subscription_id, now, delivery_ids)
            detail = f"{replayed} failed deliveries sent again"
            target = f"webhook:{subscription_id}"
            uow.audit.append([audited(by, AuditAction.WEBHOOK_REPLAYED, target, now, detail)])
            uow.commit()
        return replayed


@dataclass(frozen=True, slots=True)
class DeliveryPolicy:
    """How the sender works: the retries, how long a claim holds (past the longest send),
    how many deliveries a round claims and sends at once, and how often an idle sender
    looks for more."""

    retries: RetryPolicy = field(default_factory=RetryPolicy)
    lease: timedelta = timedelta(seconds=30)
    batch: int = 50
    concurrency: int = 4
    idle_s: float = 0.5


def sender_name() -> str:
    """Who holds a claim: this host and process, and a random part for this sender."""
    return f"{socket.gethostname()[:32]}:{os.getpid()}:{uuid.uuid4().hex[:8]}"


class DeliverWebhooks:
    """The outbox's sender: :meth:`deliver_due` is one round; :meth:`start` runs rounds in a
    thread until :meth:`stop`."""

    def __init__(
        self,
        unit_of_work: UnitOfWorkFactory,
        queries: WebhookQueries,
        sender: WebhookSender,
        clock: Clock,
        policy: DeliveryPolicy = DeliveryPolicy(),
    ) -> None:
        self.unit_of_work = unit_of_work
        self.queries = queries
        self.sender = sender
        self.clock = clock
        self.policy = policy
        self.name = sender_name()
        self._stopping = threading.Event()
        self._thread: threading.Thread | None = None
        self._pool: ThreadPoolExecutor | None = None

    def start(self) -> None:
        if self._thread is not None:
            return
        self._stopping.clear()
        self._pool = ThreadPoolExecutor(self.policy.concurrency, thread_name_prefix="webhook")
        self._thread = threading.Thread(target=self._run, name="webhook-sender", daemon=True)
        self._thread.start()
        log.info("webhook sender started", sender=self.name)

    def stop(self) -> None:
        thread, self._thread = self._thread, None
        if thread is None:
            return
        self._stopping.set()
        thread.join(timeout=30)
        if self._pool is not None:
            self._pool.shutdown(wait=False, cancel_futures=True)
            self._pool = None

    def _run(self) -> None:
        while not self._stopping.is_set():
            try:
                sent = self.deliver_due()
            except TransientFailure as failure:
                log.warning(
                    "webhook sender could not reach the store; retrying", error=str(failure)
                )
                sent = 0
            except Exception:  # the sender must outlive anything one round meets
                log.exception("webhook round failed; retrying")
                sent = 0
            if not sent:
                self._stopping.wait(self.policy.idle_s)

    def deliver_due(self) -> int:
        """Claim what is due, send it, record what came of it; returns how many were sent."""
        now = self.clock.now()
        # Asked first, as a read: a claim is a write, and on SQLite every unit of work takes
        # the process's one writer, so an idle sender's claims twice a second queued the
        # requests' and the stages' writes behind them for nothing.
        due = self.queries.next_due()
        if due is None or due > now:
            return 0
        with self.unit_of_work() as uow:
            claimed = uow.webhooks.claim(self.name, now, now + self.policy.lease, self.policy.batch)
            uow.commit()
        if not claimed:
            return 0
        if self._pool is not None:
            results = list(self._pool.map(self._send, claimed))
        else:
            results = [self._send(delivery) for delivery in claimed]
        at = self.clock.now()
        outcomes = [self._outcome(c.delivery, r, at) for c, r in zip(claimed, results, strict=True)]
        attempts = [
            Attempt(
                c.delivery.id,
                c.delivery.subscription_id,
                c.delivery.event_id,
                at,
                r.status_code,
                r.error,
                round(r.seconds * 1000.0, 1),
            )
            for c, r in zip(claimed, results, strict=True)
        ]
        with self.unit_of_work() as uow:
            uow.webhooks.settle(self.name, outcomes, attempts)
            uow.commit()
        failed = [o for o in outcomes if o.status is not DeliveryStatus.DELIVERED]
        if failed:
            log.info(
                "webhook deliveries failed",
                sent=len(outcomes),
                failed=len(failed),
                given_up=sum(o.status is DeliveryStatus.FAILED for o in failed),
            )
        return len(outcomes)

    def _send(self, claimed: ClaimedDelivery) -> SendResult:
        delivery = claimed.delivery
        body = delivery.body.encode()
        now = int(self.clock.now().timestamp())
        headers = {
            "Content-Type": "application/json",
            "User-Agent": f"fraud-webhooks/{__version__}",
            EVENT_ID_HEADER: delivery.event_id,
            EVENT_TYPE_HEADER: delivery.event_type.value,
            SIGNATURE_HEADER: signature(claimed.secret, now, body),
        }
        refused = self.sender.refusal(claimed.url)
        if refused is not None:
            return SendResult(None, refused, 0.0)
        return self.sender.send(claimed.url, body, headers)

    def _outcome(self, delivery: Delivery, result: SendResult, at: datetime) -> Settled:
        attempts = delivery.attempts + 1
        if result.status_code is not None and 200 <= result.status_code < 300:
            return Settled(delivery.id, DeliveryStatus.DELIVERED, attempts, None, None, at)
        error = result.error or f"HTTP {result.status_code}"
        delay = self.policy.retries.after(attempts)
        if delay is None:
            log.warning(
                "webhook delivery failed for good; replayable",
                delivery=delivery.id,
                subscription=delivery.subscription_id,
                event_id=delivery.event_id,
                attempts=attempts,
                error=error,
            )
            return Settled(delivery.id, DeliveryStatus.FAILED, attempts, None, error, at)
        return Settled(delivery.id, DeliveryStatus.PENDING, attempts, at + delay, error, at)
