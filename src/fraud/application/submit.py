"""Submit: accept transactions from a client by claiming their ids, then have them published.

Claim first: the transaction is stored under its id before anything is published,
so of any number of concurrent submissions of one id exactly one is accepted and
published; the same fields again are a duplicate, other fields a conflict. The
committed claim is the promise the client gets back (202): the outbox relay
publishes it, now or once the broker is back.

Claims are committed in groups: a request that finds another's commit in progress
queues its transactions, and when that commit ends one of the queued requests
claims everything queued in one transaction. Under load a commit serves many
requests; alone, a request commits at once.
"""

from __future__ import annotations

import threading
import uuid
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

import structlog

from fraud.application.metrics import NO_METRICS
from fraud.application.outbox import OutboxRelay
from fraud.application.stream.stage import tracing
from fraud.domain.assessment import Status, TransactionRecord
from fraud.domain.errors import IdempotencyConflict, InvalidTransaction
from fraud.domain.ports import Clock, PipelineMetrics, UnitOfWorkFactory
from fraud.domain.ports.tracing import trace_id_of
from fraud.domain.refusals import refusals
from fraud.domain.transaction import DEFAULT_MAX_SKEW, Transaction

log = structlog.get_logger(__name__)


@dataclass(frozen=True, slots=True)
class Submission:
    """What became of one submitted transaction: accepted (``duplicate`` false), already
    stored with these fields (``duplicate`` true), or, with ``conflict``, an id already
    used for another transaction (``status`` is then meaningless and nothing is told of it)."""

    transaction_id: str
    status: Status
    duplicate: bool
    conflict: bool = False


def _new_id() -> str:
    return str(uuid.uuid4())


class _Request:
    """One caller's records waiting in the group commit, and what became of them."""

    __slots__ = ("done", "error", "outcomes", "records")

    def __init__(self, records: list[TransactionRecord]) -> None:
        self.records = records
        self.outcomes: list[Submission] = []
        self.error: BaseException | None = None
        self.done = False


class SubmitTransactions:
    """Idempotent by transaction_id: a resubmission publishes nothing and reports the stored
    state; the same id with other fields is a conflict. One instance serves a process: its
    callers' claims share commits."""

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
        self._turn = threading.Condition()
        self._queued: list[_Request] = []
        self._committing = False

    def parse(self, body: Mapping[str, Any]) -> Transaction:
        """A client's transaction as received now: an id when it has none, a timestamp no
        later than the allowed skew ahead."""
        try:
            return Transaction.parse(
                body, new_id=self.new_id, received_at=self.clock.now(), max_skew=self.max_skew
            )
        except InvalidTransaction as invalid:
            self.metrics.transactions_refused("api", refusals(invalid.errors))
            raise

    def __call__(
        self,
        transactions: Sequence[Transaction],
        submitted_by: str | None = None,
        trace: str | None = None,
    ) -> list[Submission]:
        """Claim and hand over; ``submitted_by`` is the client's subject, and an id another
        client used is a conflict like any other (it tells nothing of that transaction);
        ``trace`` is the submitting request's traceparent, which the transactions carry on.
        Raises :class:`IdempotencyConflict` for the first conflict, after the others are
        accepted."""
        outcomes = self.each(transactions, submitted_by, trace)
        for outcome in outcomes:
            if outcome.conflict:
                raise IdempotencyConflict(outcome.transaction_id)
        return outcomes

    def each(
        self,
        transactions: Sequence[Transaction],
        submitted_by: str | None = None,
        trace: str | None = None,
    ) -> list[Submission]:
        """What became of each transaction, in order, conflicts included."""
        received_at = self.clock.now()
        request = _Request(
            [
                TransactionRecord(t, received_at, submitted_by=submitted_by, trace=trace)
                for t in transactions
            ]
        )
        with self._turn:
            self._queued.append(request)
            while self._committing and not request.done:
                self._turn.wait()
            if not request.done:  # this caller commits everything queued
                self._committing = True
                group, self._queued = self._queued, []
        if not request.done:
            try:
                self._commit(group)
            finally:
                with self._turn:
                    self._committing = False
                    self._turn.notify_all()
        if request.error is not None:
            raise request.error
        return request.outcomes

    def _commit(self, group: list[_Request]) -> None:
        records = [record for request in group for record in request.records]
        try:
            with self.unit_of_work() as uow:
                claimed = uow.verdicts.claim(records)
                stored = uow.verdicts.get_many(
                    [
                        r.transaction.transaction_id
                        for r in records
                        if r.transaction.transaction_id not in claimed
                    ]
                )
                uow.commit()
        except BaseException as error:
            for request in group:
                request.error, request.done = error, True
            raise
        fresh: dict[str, TransactionRecord] = {}
        for request in group:
            request.outcomes = [_outcome(r, claimed, fresh, stored) for r in request.records]
            request.done = True
        if fresh:
            self.outbox.hand_over(list(fresh.values()))
            self.metrics.transactions_accepted(len(fresh))
            if tracing(__name__):  # a line per transaction costs more than accepting it
                for transaction_id, record in fresh.items():
                    log.debug(
                        "transaction accepted",
                        transaction_id=transaction_id,
                        trace_id=trace_id_of(record.trace),
                    )


def _outcome(
    record: TransactionRecord,
    claimed: set[str],
    fresh: dict[str, TransactionRecord],
    stored: Mapping[str, TransactionRecord],
) -> Submission:
    """The first record of a claimed id is accepted (into ``fresh``); a later one with that
    id is compared with it, one of an unclaimed id with what was stored before."""
    transaction_id = record.transaction.transaction_id
    if transaction_id in claimed and transaction_id not in fresh:
        fresh[transaction_id] = record
        return Submission(transaction_id, Status.PENDING, duplicate=False)
    known = fresh.get(transaction_id) or stored[transaction_id]
    if known.transaction != record.transaction or known.submitted_by != record.submitted_by:
        return Submission(transaction_id, Status.PENDING, duplicate=False, conflict=True)
    return Submission(transaction_id, known.status, duplicate=True)


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
