"""Preprocess: validate raw transactions and compute their behaviour features."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from typing import Protocol

import structlog

from fraud.application.envelopes import Envelopes, MalformedMessage
from fraud.application.stage import Outbox, tracing
from fraud.domain.errors import InvalidTransaction
from fraud.domain.features import HISTORY_SPAN, BehaviourProfiles
from fraud.domain.ports import (
    AssignedPartition,
    Clock,
    Message,
    MessageBus,
    Topic,
    VerdictQueries,
)
from fraud.domain.transaction import Transaction

log = structlog.get_logger(__name__)

EXPIRE_EVERY_BATCHES = 100
RESTORE_CHUNK = 10_000
_EVER = datetime(1, 1, 1, tzinfo=UTC)


class PreprocessStage:
    name = "preprocess"
    topics = (Topic.TRANSACTIONS,)

    def __init__(
        self,
        profiles: BehaviourProfiles,
        clock: Clock,
        envelopes: Envelopes,
        history: ProfileHistory | None = None,
    ) -> None:
        self.profiles = profiles
        self.clock = clock
        self.envelopes = envelopes
        self.history = history or FromTheLog(clock, envelopes)
        self._batches = 0

    def handle(self, batch: Sequence[Message]) -> Outbox:
        outbox = Outbox()
        accepted: list[tuple[Transaction, datetime]] = []
        for message in batch:
            received_at = self._received_at(message)
            try:
                transaction = self.envelopes.read_transaction(message, received_at)
            except (MalformedMessage, InvalidTransaction) as error:
                outbox.dead_letter(message, self.name, str(error))
                continue
            accepted.append((transaction, received_at))

        vectors = self.profiles.observe(transaction for transaction, _ in accepted)
        self._batches += 1
        if self._batches % EXPIRE_EVERY_BATCHES == 0:
            forgotten = self.profiles.expire()
            log.debug("idle users forgotten", count=forgotten, users=len(self.profiles))
        trace = tracing(__name__)
        preprocessed_at = self.clock.now()
        for (transaction, received_at), features in zip(accepted, vectors, strict=True):
            outbox.add(
                Topic.PREPROCESSED,
                self.envelopes.preprocessed_message(
                    transaction, received_at, features, preprocessed_at
                ),
            )
            if trace:
                log.debug("features computed", transaction_id=transaction.transaction_id)
        log.debug("batch preprocessed", count=len(accepted), users=len(self.profiles))
        return outbox

    def restore(self, assigned: Sequence[AssignedPartition], bus: MessageBus) -> int:
        """Rebuild the profiles of the users this worker now owns, before its first batch.

        ``assigned`` is the whole assignment (Kafka's eager rebalancing hands every
        partition back at once), so the state starts again from empty: users of
        partitions that moved away are forgotten, and nothing this worker already
        held is counted twice.
        """
        return self.history.restore(self.profiles, assigned, bus)

    def _received_at(self, message: Message) -> datetime:
        return received_at(self.envelopes, self.clock, message)


def received_at(envelopes: Envelopes, clock: Clock, message: Message) -> datetime:
    """When the service received a transaction (see ``Envelopes.received_at``); now, for a
    bus that cannot say."""
    return envelopes.received_at(message) or clock.now()


class ProfileHistory(Protocol):
    """Where the profiles of newly owned users are rebuilt from."""

    def restore(
        self,
        profiles: BehaviourProfiles,
        assigned: Sequence[AssignedPartition],
        bus: MessageBus,
    ) -> int:
        """Rebuild ``profiles`` from empty; returns how many transactions it observed."""


class FromTheLog:
    """Kafka keeps the log: the owned partitions' transactions of the history span, up to
    the committed offset (what comes after is consumed as usual)."""

    def __init__(self, clock: Clock, envelopes: Envelopes) -> None:
        self.clock = clock
        self.envelopes = envelopes

    def restore(
        self,
        profiles: BehaviourProfiles,
        assigned: Sequence[AssignedPartition],
        bus: MessageBus,
    ) -> int:
        profiles.clear()
        since = self.clock.now() - timedelta(seconds=HISTORY_SPAN)
        restored = 0
        for partition in assigned:
            history = bus.read_back(
                partition.topic, partition.partition, since=since, until_offset=partition.resume_at
            )
            transactions = []
            for message in history:
                try:
                    transactions.append(
                        self.envelopes.read_transaction(
                            message, received_at(self.envelopes, self.clock, message)
                        )
                    )
                except (MalformedMessage, InvalidTransaction):
                    continue  # it went to the dead-letter topic when it first came
            profiles.observe(transactions)
            restored += len(transactions)
        return restored


class FromTheStore:
    """The embedded bus of ``fraud run`` keeps no log to replay after a restart: every
    transaction the database stored, that no stage refused, in time order. Features
    depend only on which transactions a user had, not on when the profiles learnt of
    them, so the next verdict after a restart is the one it would have been without."""

    def __init__(self, queries: VerdictQueries) -> None:
        self.queries = queries

    def restore(
        self,
        profiles: BehaviourProfiles,
        assigned: Sequence[AssignedPartition],
        bus: MessageBus,
    ) -> int:
        profiles.clear()
        restored = 0
        chunk: list[Transaction] = []
        for transaction in self.queries.accepted_since(_EVER):
            chunk.append(transaction)
            if len(chunk) == RESTORE_CHUNK:
                profiles.observe(chunk)
                restored += len(chunk)
                chunk = []
        profiles.observe(chunk)
        profiles.expire()
        return restored + len(chunk)
