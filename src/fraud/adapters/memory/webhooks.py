"""Webhook subscriptions and the delivery outbox in memory, as the SQL adapter keeps them.
A claim is applied on commit to the state as it is then, so two units of work claiming at
once never hold one delivery."""

from __future__ import annotations

import json
import threading
from collections import Counter
from collections.abc import Sequence
from dataclasses import replace
from datetime import datetime
from functools import partial

from fraud.adapters.memory.state import HeldDelivery, Staged, State
from fraud.domain.ports.webhooks import ClaimedDelivery, Settled
from fraud.domain.webhooks import (
    Attempt,
    Delivery,
    DeliveryStatus,
    Subscription,
    WebhookEvent,
)


def _subscribe(state: State, subscription: Subscription, secret: str) -> Subscription:
    made = replace(subscription, id=max(state.subscriptions, default=0) + 1)
    state.subscriptions[made.id] = (made, secret)
    return made


def _unsubscribe(state: State, subscription_id: int, at: datetime) -> bool:
    found = state.subscriptions.get(subscription_id)
    if found is None or found[0].removed_at is not None:
        return False
    state.subscriptions[subscription_id] = (replace(found[0], removed_at=at), found[1])
    for key, held in list(state.deliveries.items()):
        delivery = held.delivery
        if (
            delivery.subscription_id == subscription_id
            and delivery.status is DeliveryStatus.PENDING
        ):
            failed = replace(
                delivery, status=DeliveryStatus.FAILED, last_error="subscription removed"
            )
            state.deliveries[key] = replace(held, delivery=failed)
    return True


def _enqueue(state: State, events: Sequence[WebhookEvent], at: datetime) -> None:
    known = {(h.delivery.subscription_id, h.delivery.event_id) for h in state.deliveries.values()}
    for event in events:
        for subscription, _ in state.subscriptions.values():
            key = (subscription.id, event.id)
            if subscription.removed_at is not None or event.type not in subscription.events:
                continue
            if key in known:
                continue
            known.add(key)
            delivery_id = max(state.deliveries, default=0) + 1
            state.deliveries[delivery_id] = HeldDelivery(
                Delivery(
                    delivery_id,
                    subscription.id,
                    event.id,
                    event.type,
                    json.dumps(event.document()),
                    DeliveryStatus.PENDING,
                    0,
                    at,
                    next_attempt_at=at,
                )
            )


def _claim(
    state: State, owner: str, now: datetime, lease_until: datetime, limit: int
) -> list[ClaimedDelivery]:
    due = sorted(
        (
            held
            for held in state.deliveries.values()
            if held.delivery.status is DeliveryStatus.PENDING
            and held.delivery.next_attempt_at is not None
            and held.delivery.next_attempt_at <= now
            and (held.lease_until is None or held.lease_until < now)
        ),
        key=lambda held: (held.delivery.next_attempt_at, held.delivery.id),
    )[:limit]
    claimed = []
    for held in due:
        state.deliveries[held.delivery.id] = replace(
            held, lease_owner=owner, lease_until=lease_until
        )
        subscription, secret = state.subscriptions[held.delivery.subscription_id]
        claimed.append(ClaimedDelivery(held.delivery, subscription.url, secret))
    return claimed


def _settle(
    state: State, owner: str, outcomes: Sequence[Settled], attempts: Sequence[Attempt]
) -> None:
    for outcome in outcomes:
        held = state.deliveries.get(outcome.delivery_id)
        if held is None or held.lease_owner != owner:
            continue
        delivered = outcome.at if outcome.status is DeliveryStatus.DELIVERED else None
        state.deliveries[outcome.delivery_id] = HeldDelivery(
            replace(
                held.delivery,
                status=outcome.status,
                attempts=outcome.attempts,
                next_attempt_at=outcome.next_attempt_at,
                delivered_at=delivered,
                last_error=outcome.last_error,
            )
        )
    for attempt in attempts:
        state.attempts[max(state.attempts, default=0) + 1] = attempt


def _replay(state: State, subscription_id: int, at: datetime, delivery_ids: Sequence[int]) -> int:
    replayed = 0
    for key, held in list(state.deliveries.items()):
        delivery = held.delivery
        if delivery.subscription_id != subscription_id or delivery.status is not (
            DeliveryStatus.FAILED
        ):
            continue
        if delivery_ids and delivery.id not in delivery_ids:
            continue
        state.deliveries[key] = HeldDelivery(
            replace(
                delivery,
                status=DeliveryStatus.PENDING,
                attempts=0,
                next_attempt_at=at,
                last_error=None,
            )
        )
        replayed += 1
    return replayed


class InMemoryWebhookRepository:
    def __init__(self, staged: Staged) -> None:
        self._staged = staged

    def subscribe(self, subscription: Subscription, secret: str) -> Subscription:
        made = self._staged.write(partial(_subscribe, subscription=subscription, secret=secret))
        assert isinstance(made, Subscription)
        return made

    def unsubscribe(self, subscription_id: int, at: datetime) -> bool:
        return bool(
            self._staged.write(partial(_unsubscribe, subscription_id=subscription_id, at=at))
        )

    def enqueue(self, events: Sequence[WebhookEvent], at: datetime) -> None:
        if events:
            self._staged.write(partial(_enqueue, events=list(events), at=at))

    def claim(
        self, owner: str, now: datetime, lease_until: datetime, limit: int
    ) -> list[ClaimedDelivery]:
        write = partial(_claim, owner=owner, now=now, lease_until=lease_until, limit=limit)
        claimed = self._staged.write(write)
        assert isinstance(claimed, list)
        return claimed

    def settle(self, owner: str, outcomes: Sequence[Settled], attempts: Sequence[Attempt]) -> None:
        self._staged.write(
            partial(_settle, owner=owner, outcomes=list(outcomes), attempts=list(attempts))
        )

    def replay(self, subscription_id: int, at: datetime, delivery_ids: Sequence[int] = ()) -> int:
        write = partial(
            _replay, subscription_id=subscription_id, at=at, delivery_ids=list(delivery_ids)
        )
        replayed = self._staged.write(write)
        assert isinstance(replayed, int)
        return replayed


class InMemoryWebhookQueries:
    """The read side of webhooks, over the committed state (``self.state``)."""

    state: State
    lock: threading.Lock

    def subscriptions(self) -> list[Subscription]:
        with self.lock:
            return [found for _, (found, _) in sorted(self.state.subscriptions.items())]

    def subscription(self, subscription_id: int) -> Subscription | None:
        with self.lock:
            found = self.state.subscriptions.get(subscription_id)
        return None if found is None else found[0]

    def deliveries(
        self, subscription_id: int, status: DeliveryStatus | None, limit: int
    ) -> list[Delivery]:
        with self.lock:
            found = [
                held.delivery
                for held in self.state.deliveries.values()
                if held.delivery.subscription_id == subscription_id
                and (status is None or held.delivery.status is status)
            ]
        return sorted(found, key=lambda delivery: delivery.id, reverse=True)[:limit]

    def attempts(self, subscription_id: int, limit: int) -> list[Attempt]:
        with self.lock:
            found = [
                attempt
                for _, attempt in sorted(self.state.attempts.items(), reverse=True)
                if attempt.subscription_id == subscription_id
            ]
        return found[:limit]

    def next_due(self) -> datetime | None:
        with self.lock:
            due = [
                held.delivery.next_attempt_at
                for held in self.state.deliveries.values()
                if held.delivery.status is DeliveryStatus.PENDING
                and held.delivery.next_attempt_at is not None
            ]
        return min(due, default=None)

    def backlog(self) -> dict[DeliveryStatus, int]:
        with self.lock:
            counted = Counter(held.delivery.status for held in self.state.deliveries.values())
        return {status: counted.get(status, 0) for status in DeliveryStatus}
