"""Preprocess: validate raw transactions and compute their behaviour features."""

from __future__ import annotations

import gc
from collections.abc import Callable, Iterable, Mapping, Sequence
from datetime import UTC, datetime, timedelta
from typing import Protocol, TypeVar

import structlog

from fraud.application.envelopes import Envelopes, MalformedMessage
from fraud.application.stage import Outbox, tracing
from fraud.domain.errors import InvalidTransaction
from fraud.domain.features import HISTORY_SPAN, BehaviourProfiles, UserHistory
from fraud.domain.label_risk import LabelEvent
from fraud.domain.ports import (
    AssignedPartition,
    Clock,
    Message,
    MessageBus,
    OutgoingMessage,
    Serializer,
    Topic,
    VerdictQueries,
)
from fraud.domain.transaction import Transaction

log = structlog.get_logger(__name__)
T = TypeVar("T")

EXPIRE_EVERY_BATCHES = 100
RESTORE_CHUNK = 10_000
_EVER = datetime(1, 1, 1, tzinfo=UTC)
# The state store's record of how far into its partition of `transactions` it is written:
# no user id can be this key (ids are printable).
CHECKPOINT_KEY = "\x00checkpoint"
# A merchant's count of transactions on one day, from this partition: nor can this prefix
# start a user id.
COUNT_PREFIX = "\x01"
# What the store holds for one partition: its checkpoint, its users, its merchants' counts.
StoredPartition = tuple[int | None, dict[str, UserHistory], dict[tuple[str, int], int]]


def count_key(merchant: str, day: int) -> str:
    return f"{COUNT_PREFIX}{day}\x1f{merchant}"


def parse_count_key(key: str) -> tuple[str, int]:
    day, merchant = key.removeprefix(COUNT_PREFIX).split("\x1f", 1)
    return merchant, int(day)


class PreprocessStage:
    name = "preprocess"
    topics = (Topic.TRANSACTIONS, Topic.LABELS)

    def __init__(
        self,
        profiles: BehaviourProfiles,
        clock: Clock,
        envelopes: Envelopes,
        store: ProfileStore | None = None,
    ) -> None:
        self.profiles = profiles
        self.clock = clock
        self.envelopes = envelopes
        self.store = store or Changelog(clock, envelopes)
        self._batches = 0

    def handle(self, batch: Sequence[Message]) -> Outbox:
        outbox = Outbox()
        accepted: list[tuple[Transaction, datetime]] = []
        partitions: list[int] = []
        owners: dict[str, int] = {}
        labels = []
        for message in batch:
            if message.topic == Topic.LABELS:
                try:
                    labels.append(self.envelopes.read_label(message))
                except MalformedMessage as error:
                    outbox.dead_letter(message, self.name, str(error))
                continue
            received_at = self._received_at(message)
            try:
                transaction = self.envelopes.read_transaction(message, received_at)
            except (MalformedMessage, InvalidTransaction) as error:
                outbox.dead_letter(message, self.name, str(error))
                continue
            accepted.append((transaction, received_at))
            partitions.append(message.partition)
            owners[transaction.user_id] = message.partition

        # Each label counts from when it became known, so learning a batch's labels before
        # its transactions changes nothing for a transaction that came before them.
        self.profiles.learn(labels)
        vectors = self.profiles.observe((t for t, _ in accepted), shards=partitions)
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
        for change in self.store.changes(self.profiles, owners, batch):
            outbox.add(Topic.STATE, change)
        log.debug("batch preprocessed", count=len(accepted), users=len(self.profiles))
        return outbox

    def restore(
        self, assigned: Sequence[AssignedPartition], bus: MessageBus
    ) -> Sequence[AssignedPartition]:
        """Rebuild the profiles of the users this worker now owns, before its first batch;
        returns where partitions resume when not at their committed offset.

        ``assigned`` is the whole assignment (Kafka's eager rebalancing hands every
        partition back at once), so the state starts again from empty: users of
        partitions that moved away are forgotten, and nothing this worker already
        held is counted twice.
        """
        return self.store.restore(self.profiles, assigned, bus)

    def _received_at(self, message: Message) -> datetime:
        return received_at(self.envelopes, self.clock, message)


def received_at(envelopes: Envelopes, clock: Clock, message: Message) -> datetime:
    """When the service received a transaction (see ``Envelopes.received_at``); now, for a
    bus that cannot say."""
    return envelopes.received_at(message) or clock.now()


class ProfileStore(Protocol):
    """Where the profiles of newly owned users come from, and where their changes go."""

    def restore(
        self,
        profiles: BehaviourProfiles,
        assigned: Sequence[AssignedPartition],
        bus: MessageBus,
    ) -> Sequence[AssignedPartition]:
        """Rebuild ``profiles`` from empty; returns the partitions that must resume
        elsewhere than at their committed offset, and where."""

    def changes(
        self, profiles: BehaviourProfiles, owners: Mapping[str, int], batch: Sequence[Message]
    ) -> list[OutgoingMessage]:
        """What to write down once ``batch`` is handled (``owners``: the partition of each
        user it held); published after the batch's outputs, before its offsets commit."""


class Changelog:
    """The state store of Kafka Streams (and Flink, and Quix Streams): a compacted topic.

    After each batch, every user it changed is written to ``behaviour-state`` in the
    partition of their transactions (a user forgotten: a tombstone), then a checkpoint
    saying up to which offset of that partition the state is written. Published after the
    batch's outputs and before its offsets commit, so the checkpoint never promises more
    than is durable. Compaction keeps about one record per user, so a worker taking a
    partition over reads what its users are now, in time proportional to the users, not
    to the days of transactions the topic retains; it resumes at the checkpoint, which
    can be past the committed offset (the crash came between the two), so nothing is
    counted twice and nothing is missed.

    A partition without a checkpoint (state never written, as before this store existed)
    is rebuilt once from the transactions it retains.
    """

    def __init__(self, clock: Clock, envelopes: Envelopes) -> None:
        self.clock = clock
        self.envelopes = envelopes
        self.serializer: Serializer = envelopes.serializer
        self._owners: dict[str, int] = {}  # the partition each remembered user belongs to

    def changes(
        self, profiles: BehaviourProfiles, owners: Mapping[str, int], batch: Sequence[Message]
    ) -> list[OutgoingMessage]:
        self._owners.update(owners)
        records = []
        for user, history in profiles.take_changes().items():
            if history is None:
                partition = self._owners.pop(user, None)
                value = None
            else:
                partition = self._owners.get(user)
                value = self.serializer.dumps(history.snapshot())
            if partition is not None:
                records.append(OutgoingMessage(user, value, partition=partition))
        for (merchant, day, partition), count in profiles.risk.take_changes().items():
            value = None if count is None else str(count).encode("ascii")
            records.append(OutgoingMessage(count_key(merchant, day), value, partition=partition))
        checkpoints: dict[int, int] = {}
        for message in batch:
            if message.topic != Topic.TRANSACTIONS:
                continue
            checkpoints[message.partition] = max(
                checkpoints.get(message.partition, 0), message.offset + 1
            )
        records.extend(
            OutgoingMessage(CHECKPOINT_KEY, str(offset).encode("ascii"), partition=partition)
            for partition, offset in checkpoints.items()
        )
        return records

    def restore(
        self,
        profiles: BehaviourProfiles,
        assigned: Sequence[AssignedPartition],
        bus: MessageBus,
    ) -> Sequence[AssignedPartition]:
        profiles.clear()
        self._owners.clear()
        profiles.learn(self._labels(bus))
        resume = []
        for partition in assigned:
            if partition.topic != Topic.TRANSACTIONS:
                continue  # labels: every one was just read, whoever owns their partitions
            checkpoint, users, counts = self._read_without_collecting(bus, partition.partition)
            for user, history in users.items():
                profiles.load(user, history)
                self._owners[user] = partition.partition
            for (merchant, day), count in counts.items():
                profiles.risk.load_count(merchant, day, partition.partition, count)
            if checkpoint is None:
                if partition.resume_at > 0:  # else nothing was ever handled: nothing to rebuild
                    replayed = self._replay(profiles, partition, bus)
                    log.info(
                        "state rebuilt from the transactions retained",
                        partition=partition.partition,
                        transactions=replayed,
                    )
                continue
            log.info(
                "state read from the store",
                partition=partition.partition,
                users=len(users),
                checkpoint=checkpoint,
                committed=partition.resume_at,
            )
            if checkpoint != partition.resume_at:
                resume.append(AssignedPartition(partition.topic, partition.partition, checkpoint))
        return resume

    def _labels(self, bus: MessageBus) -> list[LabelEvent]:
        """Every label the topic holds: a merchant's figures need labels of every partition."""
        return list(_readable(self.envelopes.read_label, bus.read_topic(Topic.LABELS)))

    def _read_without_collecting(self, bus: MessageBus, partition: int) -> StoredPartition:
        """Reading a million users makes tens of millions of small objects, none of them in
        a cycle; the cyclic collector would walk the growing heap again and again and
        triple the time (measured), so it waits until they are all made."""
        collecting = gc.isenabled()
        gc.disable()
        try:
            return self._read(bus, partition)
        finally:
            if collecting:
                gc.enable()

    def _read(self, bus: MessageBus, partition: int) -> StoredPartition:
        latest: dict[str, bytes] = {}
        for record in bus.read_partition(Topic.STATE, partition):
            if record.key is not None:
                latest[record.key] = record.value
        checkpoint = latest.pop(CHECKPOINT_KEY, None)
        users = {}
        counts = {}
        for key, value in latest.items():
            if not value:
                continue  # a tombstone not compacted away yet
            if key.startswith(COUNT_PREFIX):
                counts[parse_count_key(key)] = int(value)
                continue
            user = key
            try:
                users[user] = UserHistory.from_snapshot(self.serializer.loads(value))
            except (ValueError, KeyError, TypeError) as error:
                # Never fatal: the user starts again from no history, and says so.
                log.error("a user's stored state cannot be read", user_id=user, error=str(error))
        return (int(checkpoint) if checkpoint else None), users, counts

    def _replay(
        self, profiles: BehaviourProfiles, partition: AssignedPartition, bus: MessageBus
    ) -> int:
        since = self.clock.now() - timedelta(seconds=HISTORY_SPAN)
        history = bus.read_back(
            partition.topic, partition.partition, since=since, until_offset=partition.resume_at
        )
        envelopes, clock = self.envelopes, self.clock
        transactions = list(
            _readable(
                lambda m: envelopes.read_transaction(m, received_at(envelopes, clock, m)), history
            )
        )
        profiles.observe(transactions, shards=[partition.partition] * len(transactions))
        self._owners.update((txn.user_id, partition.partition) for txn in transactions)
        return len(transactions)


def _readable(read: Callable[[Message], T], messages: Iterable[Message]) -> Iterable[T]:
    """What ``read`` makes of each message, leaving out those it refuses."""
    for message in messages:
        try:
            yield read(message)
        except (MalformedMessage, InvalidTransaction):
            continue  # it went to the dead-letter topic when it first came


class FromTheStore:
    """The embedded bus of ``fraud run`` keeps no log to replay after a restart: every
    transaction the database stored, that no stage refused, in time order. Features
    depend only on which transactions a user had, not on when the profiles learnt of
    them, so the next verdict after a restart is the one it would have been without."""

    def __init__(self, queries: VerdictQueries) -> None:
        self.queries = queries

    def changes(
        self, profiles: BehaviourProfiles, owners: Mapping[str, int], batch: Sequence[Message]
    ) -> list[OutgoingMessage]:
        profiles.take_changes()  # the database holds every transaction already
        profiles.risk.take_changes()
        return []

    def restore(
        self,
        profiles: BehaviourProfiles,
        assigned: Sequence[AssignedPartition],
        bus: MessageBus,
    ) -> Sequence[AssignedPartition]:
        profiles.clear()
        profiles.learn(self.queries.label_events(_EVER))
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
        profiles.take_changes()
        profiles.risk.take_changes()
        log.info("state rebuilt from the database", transactions=restored + len(chunk))
        return []
