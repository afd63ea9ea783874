"""Preprocess: validate raw transactions and compute their behaviour features."""

from __future__ import annotations

import gc
import math
from collections.abc import Callable, Iterable, Mapping, Sequence
from datetime import UTC, datetime, timedelta
from typing import Protocol, TypeVar

import structlog

from fraud.application.stream.envelopes import Envelopes, MalformedMessage, Preprocessed
from fraud.application.stream.shared_risk import Progress, SharedRisk, count_records
from fraud.application.stream.stage import BatchOutput, tracing
from fraud.domain.errors import InvalidTransaction
from fraud.domain.features import HISTORY_SPAN, BehaviourProfiles, UserHistory
from fraud.domain.label_risk import day_label, day_of
from fraud.domain.ports import (
    TRACEPARENT,
    AssignedPartition,
    Clock,
    Message,
    MessageBus,
    OutgoingMessage,
    Serializer,
    Topic,
    VerdictQueries,
)
from fraud.domain.ports.tracing import trace_id_of
from fraud.domain.refusals import MALFORMED, refusal
from fraud.domain.transaction import Transaction

log = structlog.get_logger(__name__)
T = TypeVar("T")

EXPIRE_EVERY_BATCHES = 100
RESTORE_CHUNK = 10_000
_EVER = datetime(1, 1, 1, tzinfo=UTC)
# The state store's record of how far into its partition of `transactions` it is written:
# no user id can be this key (ids are printable).
CHECKPOINT_KEY = "\x00checkpoint"
# Merchant counts were kept in the state store under this prefix before they had a topic
# of their own (``merchant-counts``): read past, never as a user.
FORMER_COUNT_PREFIX = "\x01"
# What the store holds for one partition: its checkpoint, and its users.
StoredPartition = tuple[int | None, dict[str, UserHistory]]


class PreprocessStage:
    """Validates transactions and computes their features; a transaction whose day other
    partitions have not reached yet waits for them (see ``shared_risk``)."""

    name = "preprocess"
    topics = (Topic.TRANSACTIONS,)

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
        self.shared: SharedRisk | None = None
        self._batches = 0
        # Per owned partition: the offset its restored counts reach (what it hands out again
        # below that is not counted again), the offset handled up to, the progress written.
        self._restored: dict[int, int] = {}
        self._handled: dict[int, int] = {}
        self._written: dict[int, Progress] = {}
        self._waiting: dict[int, int] = {}  # partition: the day it waits to hand out

    def handle(self, batch: Sequence[Message]) -> BatchOutput:
        output, items = self.process(batch)
        for item in items:
            output.add(Topic.PREPROCESSED, self.envelopes.preprocessed_message(*item))
        return output

    def process(self, batch: Sequence[Message]) -> tuple[BatchOutput, list[Preprocessed]]:
        """The batch's transactions with their features, and what else handling it produced
        (dead letters, messages held back, the state's changes): what ``handle`` publishes
        as ``preprocessed-transactions``, and what a worker running every stage scores
        without reading it back."""
        output = BatchOutput()
        shared = self._shared()
        shared.catch_up(self.profiles, output)
        barrier = shared.barrier
        accepted: list[tuple[Transaction, datetime, str | None]] = []
        shards: list[int | None] = []
        owners: dict[str, int] = {}
        handled: dict[int, int] = {}
        waiting: set[int] = set()
        for message in batch:
            partition = message.partition
            if partition in waiting:
                output.held.append(message)
                continue
            received_at = self._received_at(message)
            try:
                transaction = self.envelopes.read_transaction(message, received_at)
            except (MalformedMessage, InvalidTransaction) as error:
                broken = (
                    map(refusal, error.errors)
                    if isinstance(error, InvalidTransaction)
                    else [MALFORMED]
                )
                output.dead_letter(message, self.name, str(error), broken)
                handled[partition] = message.offset + 1
                continue
            day = day_of(transaction.timestamp.timestamp())
            if not barrier.allows(partition, day):
                waiting.add(partition)
                barrier.reach(partition, day)  # nothing before it is left in this partition
                output.held.append(message)
                self._say_waiting(partition, day)
                continue
            self._waiting.pop(partition, None)
            barrier.reach(partition, day)
            handled[partition] = message.offset + 1
            accepted.append((transaction, received_at, message.headers.get(TRACEPARENT)))
            counted = message.offset >= self._restored.get(partition, 0)
            shards.append(partition if counted else None)
            owners[transaction.user_id] = partition

        vectors = self.profiles.observe((t for t, _, _ in accepted), shards=shards)
        self._batches += 1
        if self._batches % EXPIRE_EVERY_BATCHES == 0:
            forgotten = self.profiles.expire()
            log.debug("idle users forgotten", count=forgotten, users=len(self.profiles))
        trace = tracing(__name__)
        preprocessed_at = self.clock.now()
        items = [
            Preprocessed(transaction, received_at, features, preprocessed_at, carried)
            for (transaction, received_at, carried), features in zip(accepted, vectors, strict=True)
        ]
        if trace:
            for transaction, _, carried in accepted:
                log.debug(
                    "features computed",
                    transaction_id=transaction.transaction_id,
                    trace_id=trace_id_of(carried),
                )
        output.merge(self.store.changes(self.profiles, owners, handled, shared.owned))
        for partition, offset in handled.items():
            self._handled[partition] = max(self._handled.get(partition, 0), offset)
        self._write_progress(output, set(handled) | waiting)
        log.debug("batch preprocessed", count=len(accepted), users=len(self.profiles))
        return output, items

    def tick(self, idle: set[tuple[str, int]]) -> BatchOutput:
        """Learn what the other workers wrote; say which of this worker's partitions are idle."""
        output = BatchOutput()
        if self.shared is None:
            return output  # nothing assigned yet
        self.shared.catch_up(self.profiles, output)
        idle_now = {p for topic, p in idle if topic == Topic.TRANSACTIONS}
        changed = set()
        for partition in self.shared.owned:
            if (partition in idle_now) != (partition in self.shared.barrier.idle):
                self.shared.barrier.set_idle(partition, partition in idle_now)
                changed.add(partition)
        self._write_progress(output, changed)
        return output

    def releasable(self) -> set[tuple[str, int]]:
        """Held partitions whose day every other partition has now reached."""
        if self.shared is None:
            return set()
        barrier = self.shared.barrier
        ready = {p for p, day in self._waiting.items() if barrier.allows(p, day)}
        for partition in ready:
            del self._waiting[partition]
        return {(Topic.TRANSACTIONS, partition) for partition in ready}

    def restore(
        self, assigned: Sequence[AssignedPartition], bus: MessageBus
    ) -> Sequence[AssignedPartition]:
        """Rebuild the state this worker needs, before its first batch; returns where
        partitions resume when not at their committed offset.

        ``assigned`` is the whole assignment (Kafka's eager rebalancing hands every
        partition back at once), so the state starts again from empty: users of
        partitions that moved away are forgotten, and nothing this worker already
        held is counted twice. Labels and every partition's merchant counts come from
        following their topics from the start; the users from the profile store.
        """
        owned = {p.partition for p in assigned if p.topic == Topic.TRANSACTIONS}
        if self.shared is None:
            follower = bus.follower((Topic.LABELS, Topic.MERCHANT_COUNTS))
            partitions = bus.partition_count(Topic.TRANSACTIONS)
            self.shared = SharedRisk(follower, self.envelopes, partitions)
        self.profiles.clear()
        output = BatchOutput()  # nothing a restore reads is dead-lettered again
        self.shared.restore(self.profiles, owned, output)
        written = self.shared.progress
        self._restored = {p: written[p].offset for p in owned if p in written}
        self._handled = dict(self._restored)
        self._written = {}
        self._waiting = {}
        return self.store.restore(self.profiles, assigned, bus)

    def close(self) -> None:
        if self.shared is not None:
            self.shared.follower.close()

    def _shared(self) -> SharedRisk:
        if self.shared is None:
            raise RuntimeError("the preprocess stage handles a batch before any restore")
        return self.shared

    def _write_progress(self, output: BatchOutput, partitions: set[int]) -> None:
        if not self.store.shares_counts:
            return
        barrier = self._shared().barrier
        for partition in sorted(partitions & self._shared().owned):
            progress = Progress(
                self._handled.get(partition, 0),
                barrier.reached.get(partition, -math.inf),
                partition in barrier.idle,
            )
            if self._written.get(partition) != progress:
                self._written[partition] = progress
                output.add(Topic.MERCHANT_COUNTS, progress.message(partition))

    def _say_waiting(self, partition: int, day: int) -> None:
        if self._waiting.get(partition) == day:
            return
        self._waiting[partition] = day
        behind = self._shared().barrier.behind(partition, day)
        log.info(
            "a partition waits for the others to reach its day",
            partition=partition,
            day=day_label(day),
            behind={
                q: "nothing yet" if r == -math.inf else day_label(int(r)) for q, r in behind.items()
            },
        )

    def _received_at(self, message: Message) -> datetime:
        return received_at(self.envelopes, self.clock, message)


def received_at(envelopes: Envelopes, clock: Clock, message: Message) -> datetime:
    """When the service received a transaction (see ``Envelopes.received_at``); now, for a
    bus that cannot say."""
    return envelopes.received_at(message) or clock.now()


class ProfileStore(Protocol):
    """Where the profiles of newly owned users come from, and where their changes go."""

    # Whether the merchant counts of this worker's partitions are written for the others.
    shares_counts: bool

    def restore(
        self,
        profiles: BehaviourProfiles,
        assigned: Sequence[AssignedPartition],
        bus: MessageBus,
    ) -> Sequence[AssignedPartition]:
        """Rebuild the users of ``assigned`` into ``profiles`` (emptied, then given every
        label and merchant count by the caller); returns the partitions that must resume
        elsewhere than at their committed offset, and where."""

    def changes(
        self,
        profiles: BehaviourProfiles,
        owners: Mapping[str, int],
        handled: Mapping[int, int],
        owned: set[int],
    ) -> BatchOutput:
        """What to write down once a batch is handled (``owners``: the partition of each
        user it held; ``handled``: each partition's offset handled up to, messages held
        back excluded; ``owned``: this worker's partitions); published after the batch's
        outputs, before its offsets commit."""


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

    shares_counts = True

    def __init__(self, clock: Clock, envelopes: Envelopes) -> None:
        self.clock = clock
        self.envelopes = envelopes
        self.serializer: Serializer = envelopes.serializer
        self._owners: dict[str, int] = {}  # the partition each remembered user belongs to

    def changes(
        self,
        profiles: BehaviourProfiles,
        owners: Mapping[str, int],
        handled: Mapping[int, int],
        owned: set[int],
    ) -> BatchOutput:
        self._owners.update(owners)
        output = BatchOutput()
        for record in count_records(profiles.risk.take_changes(), owned):
            output.add(Topic.MERCHANT_COUNTS, record)
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
        # Up to what was handled, never past a message held back for a later batch.
        records.extend(
            OutgoingMessage(CHECKPOINT_KEY, str(offset).encode("ascii"), partition=partition)
            for partition, offset in handled.items()
        )
        for record in records:
            output.add(Topic.STATE, record)
        return output

    def restore(
        self,
        profiles: BehaviourProfiles,
        assigned: Sequence[AssignedPartition],
        bus: MessageBus,
    ) -> Sequence[AssignedPartition]:
        self._owners.clear()
        resume = []
        for partition in assigned:
            if partition.topic != Topic.TRANSACTIONS:
                continue
            checkpoint, users = self._read_without_collecting(bus, partition.partition)
            for user, history in users.items():
                profiles.load(user, history)
                self._owners[user] = partition.partition
            if checkpoint is None:
                if partition.resume_at > 0:  # else nothing was ever handled: nothing to rebuild
                    # Counted again from what is retained, whatever the counts say.
                    profiles.risk.forget_shard(partition.partition)
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
        for key, value in latest.items():
            if not value or key.startswith(FORMER_COUNT_PREFIX):
                continue  # a tombstone not compacted away yet; a count kept here before
            user = key
            try:
                users[user] = UserHistory.from_snapshot(self.serializer.loads(value))
            except (ValueError, KeyError, TypeError) as error:
                # Never fatal: the user starts again from no history, and says so.
                log.error("a user's stored state cannot be read", user_id=user, error=str(error))
        return (int(checkpoint) if checkpoint else None), users

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
    shares_counts = False

    """The embedded bus of ``fraud run`` keeps no log to replay after a restart: every
    transaction the database stored, that no stage refused, in time order. Features
    depend only on which transactions a user had, not on when the profiles learnt of
    them, so the next verdict after a restart is the one it would have been without."""

    def __init__(self, queries: VerdictQueries) -> None:
        self.queries = queries

    def changes(
        self,
        profiles: BehaviourProfiles,
        owners: Mapping[str, int],
        handled: Mapping[int, int],
        owned: set[int],
    ) -> BatchOutput:
        profiles.take_changes()  # the database holds every transaction already
        profiles.risk.take_changes()
        return BatchOutput()

    def restore(
        self,
        profiles: BehaviourProfiles,
        assigned: Sequence[AssignedPartition],
        bus: MessageBus,
    ) -> Sequence[AssignedPartition]:
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
