"""The state store of the preprocess stage on a compacted topic of the bus (``behaviour-state``):
each user's history under their id, a checkpoint per partition, tombstones for users
forgotten. Written and read through the ``MessageBus`` port, so the same store serves Kafka
and the memory bus in tests."""

from __future__ import annotations

import gc
from collections.abc import Callable, Iterable, Mapping, Sequence
from datetime import timedelta
from typing import TypeVar

import structlog

from fraud.application.stream.envelopes import Envelopes, MalformedMessage
from fraud.application.stream.preprocess import received_at
from fraud.application.stream.shared_risk import count_records
from fraud.application.stream.stage import BatchOutput
from fraud.domain.errors import InvalidTransaction
from fraud.domain.features import HISTORY_SPAN, BehaviourProfiles, UserHistory
from fraud.domain.ports import (
    AssignedPartition,
    Clock,
    Message,
    MessageBus,
    OutgoingMessage,
    Serializer,
    Topic,
)

log = structlog.get_logger(__name__)
T = TypeVar("T")

# The state store's record of how far into its partition of `transactions` it is written:
# no user id can be this key (ids are printable).
CHECKPOINT_KEY = "\x00checkpoint"
# Merchant counts were kept in the state store under this prefix before they had a topic
# of their own (``merchant-counts``): read past, never as a user.
FORMER_COUNT_PREFIX = "\x01"
# What the store holds for one partition: its checkpoint, and its users.
StoredPartition = tuple[int | None, dict[str, UserHistory]]


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
