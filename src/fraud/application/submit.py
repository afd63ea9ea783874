"""Submit: accept transactions from a client by claiming their ids, then have them published.

Claim first: the transaction is stored under its id before anything is published,
so of any number of concurrent submissions of one id exactly one is accepted and
published; the same fields again are a duplicate, other fields a conflict. The
committed claim is the promise the client gets back (202): the outbox relay
publishes it, now or once the broker is back.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

import structlog

from fraud.application.metrics import NO_METRICS
from fraud.application.outbox import OutboxRelay
from fraud.domain.assessment import Status, TransactionRecord
from fraud.domain.errors import IdempotencyConflict
from fraud.domain.ports import Clock, PipelineMetrics, UnitOfWorkFactory
from fraud.domain.transaction import DEFAULT_MAX_SKEW, Transaction

log = structlog.get_logger(__name__)


@dataclass(frozen=True, slots=True)
class Submission:
    transaction_id: str
    status: Status
    duplicate: bool


def _new_id() -> str:
    return str(uuid.uuid4())


class SubmitTransactions:
    """Idempotent by transaction_id: a resubmission publishes nothing and reports the stored
    state; the same id with other fields is an :class:`IdempotencyConflict`."""

    def __init__(
        self,
        unit_of_work: UnitOfWorkFactory,
        clock: Clock,
        outbox: OutboxRelay,
        metrics: PipelineMetrics = NO_METRICS,
        *,
        max_skew: timedelta = DEFAULT_MAX_SKEW,
        new_id: Callable[[], str] = _new_id,
    ) -> None:
        self.unit_of_work = unit_of_work
        self.clock = clock
        self.outbox = outbox
        self.metrics = metrics
        self.max_skew = max_skew
        self.new_id = new_id

    def parse(self, body: Mapping[str, Any]) -> Transaction:
        """A client's transaction as received now: an id when it has none, a timestamp no
        later than the allowed skew ahead."""
        return Transaction.parse(
            body, new_id=self.new_id, received_at=self.clock.now(), max_skew=self.max_skew
        )

    def __call__(
        self, transactions: Sequence[Transaction], submitted_by: str | None = None
    ) -> list[Submission]:
        """Claim and hand over; ``submitted_by`` is the client's subject, and an id another
        client used is a conflict like any other (it tells nothing of that transaction)."""
        received_at = self.clock.now()
        records = [
            TransactionRecord(t, received_at, submitted_by=submitted_by) for t in transactions
        ]
        with self.unit_of_work() as uow:
            claimed = uow.verdicts.claim(records)
            stored = uow.verdicts.get_many(
                [t.transaction_id for t in transactions if t.transaction_id not in claimed]
            )
            uow.commit()

        submissions: dict[str, Submission] = {}
        fresh: dict[str, TransactionRecord] = {}
        for record in records:
            transaction = record.transaction
            transaction_id = transaction.transaction_id
            if transaction_id in claimed:
                kept = fresh.setdefault(transaction_id, record)
                if kept.transaction != transaction:  # the same id twice in one batch
                    raise IdempotencyConflict(transaction_id)
                continue
            known = stored[transaction_id]
            if known.transaction != transaction or known.submitted_by != submitted_by:
                raise IdempotencyConflict(transaction_id)
            submissions[transaction_id] = Submission(transaction_id, known.status, duplicate=True)

        if fresh:
            self.outbox.hand_over(list(fresh.values()))
            self.metrics.transactions_accepted(len(fresh))
            for transaction_id in fresh:
                log.info("transaction accepted", transaction_id=transaction_id)
                submissions[transaction_id] = Submission(
                    transaction_id, Status.PENDING, duplicate=False
                )
        return [submissions[t.transaction_id] for t in transactions]


class RepublishPending:
    """Have every pending transaction published again: the embedded bus lives in memory, so
    a restart of ``fraud run`` loses what was between stages, and the pending records say
    exactly what that was. (On Kafka the messages survive, so workers need not do this.)"""

    def __init__(self, unit_of_work: UnitOfWorkFactory, outbox: OutboxRelay) -> None:
        self.unit_of_work = unit_of_work
        self.outbox = outbox

    def __call__(self) -> int:
        """How many are published again (all of them, in batches, whatever their number)."""
        with self.unit_of_work() as uow:
            count = uow.verdicts.republish_pending()
            uow.commit()
        if count:
            log.info("pending transactions to publish again", count=count)
        self.outbox.sweep(everything=True)
        return count
