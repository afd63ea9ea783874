"""Preprocess: validate raw transactions and compute their behaviour features."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime, timedelta

import structlog

from fraud.application.envelopes import RECEIVED_AT_HEADER, Envelopes, MalformedMessage
from fraud.application.stage import Outbox, tracing
from fraud.domain.errors import InvalidTransaction
from fraud.domain.features import HISTORY_SPAN, BehaviourProfiles
from fraud.domain.ports import AssignedPartition, Clock, Message, MessageBus, Topic
from fraud.domain.transaction import Transaction, parse_instant

log = structlog.get_logger(__name__)

EXPIRE_EVERY_BATCHES = 100


class PreprocessStage:
    name = "preprocess"
    topics = (Topic.TRANSACTIONS,)

    def __init__(self, profiles: BehaviourProfiles, clock: Clock, envelopes: Envelopes) -> None:
        self.profiles = profiles
        self.clock = clock
        self.envelopes = envelopes
        self._batches = 0

    def handle(self, batch: Sequence[Message]) -> Outbox:
        outbox = Outbox()
        accepted: list[tuple[Transaction, datetime]] = []
        for message in batch:
            try:
                transaction = self.envelopes.read_transaction(message)
            except (MalformedMessage, InvalidTransaction) as error:
                outbox.dead_letter(message, self.name, str(error))
                continue
            accepted.append((transaction, self._received_at(message)))

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
        """Rebuild the owned users' histories from the partitions' earlier transactions.

        ``assigned`` is the whole assignment (Kafka's eager rebalancing hands
        every partition back at once), so the state starts again from empty:
        users of partitions that moved away are forgotten, and nothing this
        worker already held is counted twice. Only what was committed is
        replayed; what comes after is consumed as usual.
        """
        self.profiles.clear()
        since = self.clock.now() - timedelta(seconds=HISTORY_SPAN)
        restored = 0
        for partition in assigned:
            history = bus.read_back(
                partition.topic, partition.partition, since=since, until_offset=partition.resume_at
            )
            transactions = []
            for message in history:
                try:
                    transactions.append(self.envelopes.read_transaction(message))
                except (MalformedMessage, InvalidTransaction):
                    continue  # it went to the dead-letter topic when it first came
            self.profiles.observe(transactions)
            restored += len(transactions)
        return restored

    def _received_at(self, message: Message) -> datetime:
        """When the service accepted it: the API's header, else the bus's timestamp."""
        header = message.headers.get(RECEIVED_AT_HEADER)
        if header:
            try:
                return parse_instant(header)
            except ValueError:
                pass
        if message.timestamp is not None:
            return datetime.fromtimestamp(message.timestamp, UTC)
        return self.clock.now()
