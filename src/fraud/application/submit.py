"""Submit: accept transactions from a client, publish them and remember them as pending."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import structlog

from fraud.application.envelopes import Envelopes
from fraud.application.metrics import NO_METRICS
from fraud.domain.assessment import Status, TransactionRecord
from fraud.domain.errors import IdempotencyConflict
from fraud.domain.ports import Clock, MessageBus, PipelineMetrics, Topic, UnitOfWorkFactory
from fraud.domain.transaction import Transaction

log = structlog.get_logger(__name__)


@dataclass(frozen=True, slots=True)
class Submission:
    transaction_id: str
    status: Status
    duplicate: bool


class SubmitTransactions:
    """Idempotent by transaction_id: a resubmission publishes nothing and reports the stored state.

    The message is published (durably) before the pending record is written, so a
    failure in between is healed by the client's retry rather than leaving a
    pending record nobody will ever score.
    """

    def __init__(
        self,
        bus: MessageBus,
        unit_of_work: UnitOfWorkFactory,
        clock: Clock,
        envelopes: Envelopes,
        metrics: PipelineMetrics = NO_METRICS,
    ) -> None:
        self.bus = bus
        self.unit_of_work = unit_of_work
        self.clock = clock
        self.envelopes = envelopes
        self.metrics = metrics

    def __call__(self, transactions: Sequence[Transaction]) -> list[Submission]:
        ids = [transaction.transaction_id for transaction in transactions]
        with self.unit_of_work() as uow:
            stored = uow.verdicts.get_many(ids)

        submissions: dict[str, Submission] = {}
        fresh: dict[str, Transaction] = {}
        for transaction in transactions:
            known = stored.get(transaction.transaction_id)
            if known is None:
                earlier = fresh.setdefault(transaction.transaction_id, transaction)
                if earlier != transaction:
                    raise IdempotencyConflict(transaction.transaction_id)
                continue
            if known.transaction != transaction:
                raise IdempotencyConflict(transaction.transaction_id)
            submissions[transaction.transaction_id] = Submission(
                transaction.transaction_id, known.status, duplicate=True
            )

        if fresh:
            received_at = self.clock.now()
            self.bus.publish(
                Topic.TRANSACTIONS,
                [self.envelopes.transaction_message(t, received_at) for t in fresh.values()],
            )
            with self.unit_of_work() as uow:
                uow.verdicts.add_pending(
                    [TransactionRecord(t, received_at) for t in fresh.values()]
                )
                uow.commit()
            self.metrics.transactions_accepted(len(fresh))
            for transaction_id in fresh:
                log.info("transaction accepted", transaction_id=transaction_id)
                submissions[transaction_id] = Submission(
                    transaction_id, Status.PENDING, duplicate=False
                )
        return [submissions[transaction_id] for transaction_id in ids]


class RepublishPending:
    """Publish again what was accepted but never scored: the database is the outbox.

    The embedded bus lives in memory, so a restart of ``fraud run`` loses what
    was between stages; the pending records say exactly what that was. (On
    Kafka the messages themselves survive, so workers need not do this.)
    """

    def __init__(
        self, bus: MessageBus, unit_of_work: UnitOfWorkFactory, envelopes: Envelopes
    ) -> None:
        self.bus = bus
        self.unit_of_work = unit_of_work
        self.envelopes = envelopes

    def __call__(self, limit: int = 100_000) -> int:
        """How many were published again."""
        with self.unit_of_work() as uow:
            waiting = uow.verdicts.pending(limit)
        for start in range(0, len(waiting), 1_000):
            chunk = waiting[start : start + 1_000]
            self.bus.publish(
                Topic.TRANSACTIONS,
                [self.envelopes.transaction_message(r.transaction, r.received_at) for r in chunk],
            )
        if waiting:
            log.info("pending transactions published again", count=len(waiting))
        return len(waiting)
