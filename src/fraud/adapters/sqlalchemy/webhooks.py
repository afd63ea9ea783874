"""Webhook subscriptions and the delivery outbox on SQLAlchemy Core.

Events are fanned out to the live subscriptions of their type in one statement per call
(``ON CONFLICT (subscription_id, event_id) DO NOTHING``: an event written again is not
delivered again). A sender claims due deliveries by setting a lease on them in one
``UPDATE ... WHERE id IN (SELECT ... LIMIT n)``: on PostgreSQL the inner select takes
``FOR UPDATE SKIP LOCKED``, so senders in several processes claim disjoint rows without
waiting on each other; on SQLite writers take turns, which gives the same. A sender that
dies leaves its lease to run out, and the next claim takes the rows again.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any

import orjson
from sqlalchemy import bindparam, func, insert, or_, select, update
from sqlalchemy.engine import Engine

from fraud.adapters.sqlalchemy.appends import insert_new
from fraud.adapters.sqlalchemy.errors import transient_errors_translated
from fraud.adapters.sqlalchemy.repository import Executor, dialect_of, fetch
from fraud.adapters.sqlalchemy.tables import (
    webhook_attempts,
    webhook_deliveries,
    webhook_subscriptions,
)
from fraud.domain.ports.webhooks import ClaimedDelivery, Settled
from fraud.domain.webhooks import (
    Attempt,
    Delivery,
    DeliveryStatus,
    EventType,
    Subscription,
    WebhookEvent,
)

_deliveries = webhook_deliveries.c
_SETTLE = (
    update(webhook_deliveries)
    .where(_deliveries.id == bindparam("settled_id"), _deliveries.lease_owner == bindparam("owner"))
    .values(
        status=bindparam("new_status"),
        attempts=bindparam("new_attempts"),
        next_attempt_at=bindparam("new_next_attempt_at"),
        delivered_at=bindparam("new_delivered_at"),
        last_error=bindparam("new_last_error"),
        lease_owner=None,
        lease_until=None,
    )
)


def body_of(event: WebhookEvent) -> str:
    """The bytes every attempt sends, fixed when the event is written."""
    return orjson.dumps(event.document()).decode()


def to_subscription(row: Mapping[str, Any]) -> Subscription:
    return Subscription(
        id=row["id"],
        url=row["url"],
        events=tuple(EventType(event) for event in row["events"]),
        created_by=row["created_by"],
        created_at=row["created_at"],
        description=row["description"],
        removed_at=row["removed_at"],
    )


def to_delivery(row: Mapping[str, Any]) -> Delivery:
    return Delivery(
        id=row["id"],
        subscription_id=row["subscription_id"],
        event_id=row["event_id"],
        event_type=EventType(row["event_type"]),
        body=row["body"],
        status=DeliveryStatus(row["status"]),
        attempts=row["attempts"],
        created_at=row["created_at"],
        next_attempt_at=row["next_attempt_at"],
        delivered_at=row["delivered_at"],
        last_error=row["last_error"],
    )


class SqlWebhookRepository:
    """The ``WebhookRepository`` port, written on the caller's transaction."""

    def __init__(self, executor: Executor) -> None:
        self._executor = executor

    def subscribe(self, subscription: Subscription, secret: str) -> Subscription:
        statement = (
            insert(webhook_subscriptions)
            .values(
                url=subscription.url,
                events=[event.value for event in subscription.events],
                secret=secret,
                description=subscription.description,
                created_at=subscription.created_at,
                created_by=subscription.created_by,
            )
            .returning(webhook_subscriptions.c.id)
        )
        with transient_errors_translated():
            made = self._executor.execute(statement).scalar_one()
        return Subscription(
            int(made),
            subscription.url,
            subscription.events,
            subscription.created_by,
            subscription.created_at,
            subscription.description,
        )

    def unsubscribe(self, subscription_id: int, at: datetime) -> bool:
        subscriptions = webhook_subscriptions.c
        with transient_errors_translated():
            removed = self._executor.execute(
                update(webhook_subscriptions)
                .where(subscriptions.id == subscription_id, subscriptions.removed_at.is_(None))
                .values(removed_at=at)
            ).rowcount
            if removed:  # what was still to send is not sent: kept as failed, replayable
                self._executor.execute(
                    update(webhook_deliveries)
                    .where(
                        _deliveries.subscription_id == subscription_id,
                        _deliveries.status == DeliveryStatus.PENDING.value,
                    )
                    .values(status=DeliveryStatus.FAILED.value, last_error="subscription removed")
                )
        return bool(removed)

    def enqueue(self, events: Sequence[WebhookEvent], at: datetime) -> None:
        if not events:
            return
        subscriptions = webhook_subscriptions.c
        with transient_errors_translated():
            live = self._executor.execute(
                select(subscriptions.id, subscriptions.events).where(
                    subscriptions.removed_at.is_(None)
                )
            ).all()
        if not live:
            return
        wanted = [(subscription_id, frozenset(types)) for subscription_id, types in live]
        rows = [
            {
                "subscription_id": subscription_id,
                "event_id": event.id,
                "event_type": event.type.value,
                "body": body_of(event),
                "status": DeliveryStatus.PENDING.value,
                "attempts": 0,
                "created_at": at,
                "next_attempt_at": at,
            }
            for event in events
            for subscription_id, types in wanted
            if event.type.value in types
        ]
        with transient_errors_translated():
            insert_new(
                self._executor,
                webhook_deliveries,
                rows,
                dialect_of(self._executor),
                ("subscription_id", "event_id"),
            )

    def claim(
        self, owner: str, now: datetime, lease_until: datetime, limit: int
    ) -> list[ClaimedDelivery]:
        due = (
            select(_deliveries.id)
            .where(
                _deliveries.status == DeliveryStatus.PENDING.value,
                _deliveries.next_attempt_at <= now,
                or_(_deliveries.lease_until.is_(None), _deliveries.lease_until < now),
            )
            .order_by(_deliveries.next_attempt_at, _deliveries.id)
            .limit(limit)
        )
        if dialect_of(self._executor) == "postgresql":
            due = due.with_for_update(skip_locked=True)
        statement = (
            update(webhook_deliveries)
            .where(_deliveries.id.in_(due.scalar_subquery()))
            .values(lease_owner=owner, lease_until=lease_until)
            .returning(*webhook_deliveries.c)
        )
        with transient_errors_translated():
            claimed = [to_delivery(row) for row in self._executor.execute(statement).mappings()]
            if not claimed:
                return []
            subscriptions = webhook_subscriptions.c
            targets = {
                row["id"]: (row["url"], row["secret"])
                for row in fetch(
                    self._executor,
                    select(subscriptions.id, subscriptions.url, subscriptions.secret).where(
                        subscriptions.id.in_({d.subscription_id for d in claimed})
                    ),
                )
            }
        return [
            ClaimedDelivery(delivery, *targets[delivery.subscription_id])
            for delivery in sorted(claimed, key=lambda d: d.id)
            if delivery.subscription_id in targets
        ]

    def settle(self, owner: str, outcomes: Sequence[Settled], attempts: Sequence[Attempt]) -> None:
        updates = [
            {
                "settled_id": outcome.delivery_id,
                "owner": owner,
                "new_status": outcome.status.value,
                "new_attempts": outcome.attempts,
                "new_next_attempt_at": outcome.next_attempt_at,
                "new_delivered_at": outcome.at
                if outcome.status is DeliveryStatus.DELIVERED
                else None,
                "new_last_error": outcome.last_error,
            }
            for outcome in outcomes
        ]
        logged = [
            {
                "delivery_id": attempt.delivery_id,
                "subscription_id": attempt.subscription_id,
                "event_id": attempt.event_id,
                "at": attempt.at,
                "status_code": attempt.status_code,
                "error": attempt.error,
                "duration_ms": attempt.duration_ms,
            }
            for attempt in attempts
        ]
        with transient_errors_translated():
            if updates:
                self._executor.execute(_SETTLE, updates)
            if logged:
                self._executor.execute(insert(webhook_attempts), logged)

    def replay(self, subscription_id: int, at: datetime, delivery_ids: Sequence[int] = ()) -> int:
        conditions = [
            _deliveries.subscription_id == subscription_id,
            _deliveries.status == DeliveryStatus.FAILED.value,
        ]
        if delivery_ids:
            conditions.append(_deliveries.id.in_(list(delivery_ids)))
        statement = (
            update(webhook_deliveries)
            .where(*conditions)
            .values(
                status=DeliveryStatus.PENDING.value,
                attempts=0,
                next_attempt_at=at,
                last_error=None,
                lease_owner=None,
                lease_until=None,
            )
        )
        with transient_errors_translated():
            return int(self._executor.execute(statement).rowcount or 0)


class SqlWebhookQueries:
    """The ``WebhookQueries`` port on the engine's database."""

    def __init__(self, engine: Engine) -> None:
        self._engine = engine

    def _rows(self, statement: Any) -> list[Any]:
        with transient_errors_translated(), self._engine.connect() as connection:
            return fetch(connection, statement)

    def subscriptions(self) -> list[Subscription]:
        statement = select(webhook_subscriptions).order_by(webhook_subscriptions.c.id)
        return [to_subscription(row) for row in self._rows(statement)]

    def subscription(self, subscription_id: int) -> Subscription | None:
        statement = select(webhook_subscriptions).where(
            webhook_subscriptions.c.id == subscription_id
        )
        rows = self._rows(statement)
        return to_subscription(rows[0]) if rows else None

    def deliveries(
        self, subscription_id: int, status: DeliveryStatus | None, limit: int
    ) -> list[Delivery]:
        conditions = [_deliveries.subscription_id == subscription_id]
        if status is not None:
            conditions.append(_deliveries.status == status.value)
        statement = (
            select(webhook_deliveries)
            .where(*conditions)
            .order_by(_deliveries.id.desc())
            .limit(limit)
        )
        return [to_delivery(row) for row in self._rows(statement)]

    def attempts(self, subscription_id: int, limit: int) -> list[Attempt]:
        statement = (
            select(webhook_attempts)
            .where(webhook_attempts.c.subscription_id == subscription_id)
            .order_by(webhook_attempts.c.id.desc())
            .limit(limit)
        )
        return [
            Attempt(
                row["delivery_id"],
                row["subscription_id"],
                row["event_id"],
                row["at"],
                row["status_code"],
                row["error"],
                row["duration_ms"],
            )
            for row in self._rows(statement)
        ]

    def next_due(self) -> datetime | None:
        statement = select(func.min(_deliveries.next_attempt_at)).where(
            _deliveries.status == DeliveryStatus.PENDING.value
        )
        with transient_errors_translated(), self._engine.connect() as connection:
            return connection.execute(statement).scalar_one()  # typed as the column: min()

    def backlog(self) -> dict[DeliveryStatus, int]:
        statement = select(_deliveries.status, func.count()).group_by(_deliveries.status)
        with transient_errors_translated(), self._engine.connect() as connection:
            found = {
                DeliveryStatus(status): int(count)
                for status, count in connection.execute(statement)
            }
        return {status: found.get(status, 0) for status in DeliveryStatus}
