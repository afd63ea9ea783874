"""Preprocess: validate raw transactions and compute their behaviour features."""

from __future__ import annotations

import math
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime

import structlog

from fraud.application.stream.envelopes import Envelopes, MalformedMessage, Preprocessed
from fraud.application.stream.ports import ProfileStore
from fraud.application.stream.shared_risk import DayBarrier, Progress, SharedRisk
from fraud.application.stream.stage import BatchOutput, tracing
from fraud.domain.errors import InvalidTransaction
from fraud.domain.features import BehaviourProfiles
from fraud.domain.label_risk import day_label, day_of
from fraud.domain.ports import (
    TRACEPARENT,
    AssignedPartition,
    Clock,
    Message,
    MessageBus,
    Topic,
)
from fraud.domain.ports.tracing import trace_id_of
from fraud.domain.refusals import MALFORMED, refusal
from fraud.domain.transaction import Transaction

log = structlog.get_logger(__name__)
# A message decoded: when it was received, and its transaction or why it has none.
Decoded = tuple[datetime, Transaction | MalformedMessage | InvalidTransaction]

EXPIRE_EVERY_BATCHES = 100


@dataclass
class Admitted:
    """What of a batch is handled now: each transaction with when it was received and the
    trace it carries, the partition it is counted in (None: its counts came back with the
    restore), each user's partition, how far each partition is handled, and the partitions
    whose next message waits for the others to reach its day."""

    accepted: list[tuple[Transaction, datetime, str | None]] = field(default_factory=list)
    shards: list[int | None] = field(default_factory=list)
    owners: dict[str, int] = field(default_factory=dict)
    handled: dict[int, int] = field(default_factory=dict)
    waiting: set[int] = field(default_factory=set)

    def take(
        self, message: Message, transaction: Transaction, received_at: datetime, counted: bool
    ) -> None:
        partition = message.partition
        self.handled[partition] = message.offset + 1
        self.accepted.append((transaction, received_at, message.headers.get(TRACEPARENT)))
        self.shards.append(partition if counted else None)
        self.owners[transaction.user_id] = partition


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
        store: ProfileStore,
    ) -> None:
        self.profiles = profiles
        self.clock = clock
        self.envelopes = envelopes
        self.store = store
        self.shared: SharedRisk | None = None
        self._batches = 0
        # Per owned partition: the offset its restored counts reach (what it hands out again
        # below that is not counted again), the offset handled up to, the progress written.
        self._restored: dict[int, int] = {}
        self._handled: dict[int, int] = {}
        self._written: dict[int, Progress] = {}
        # Per partition: the day it waits to hand out, and since when it waits.
        self._waiting: dict[int, tuple[int, datetime]] = {}

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
        admitted = self._admit(batch, shared.barrier, output)
        items = self._features(admitted)
        output.merge(
            self.store.changes(self.profiles, admitted.owners, admitted.handled, shared.owned)
        )
        for partition, offset in admitted.handled.items():
            self._handled[partition] = max(self._handled.get(partition, 0), offset)
        self._write_progress(output, set(admitted.handled) | admitted.waiting)
        log.debug("batch preprocessed", count=len(items), users=len(self.profiles))
        return output, items

    def _admit(
        self, batch: Sequence[Message], barrier: DayBarrier, output: BatchOutput
    ) -> Admitted:
        """The transactions of ``batch`` handled now; the unreadable go to ``output`` as dead
        letters, and a partition's messages from the first whose day the others have not
        reached are held back."""
        admitted = Admitted()
        firsts = self._reach_first_days(batch, barrier)
        for index, message in enumerate(batch):
            partition = message.partition
            if partition in admitted.waiting:
                output.held.append(message)
                continue
            decoded = firsts.get(index) or self._decode(message)
            received_at, transaction = decoded[0], self._read(decoded, message, output)
            if transaction is None:
                admitted.handled[partition] = message.offset + 1
                continue
            day = day_of(transaction.timestamp.timestamp())
            if not barrier.allows(partition, day):
                admitted.waiting.add(partition)
                barrier.reach(partition, day)  # nothing before it is left in this partition
                output.held.append(message)
                self._say_waiting(partition, day)
                continue
            if partition in self._waiting:
                self._wait_ended(partition)
            barrier.reach(partition, day)
            counted = message.offset >= self._restored.get(partition, 0)
            admitted.take(message, transaction, received_at, counted)
        return admitted

    def _reach_first_days(
        self, batch: Sequence[Message], barrier: DayBarrier
    ) -> dict[int, Decoded]:
        """Each partition of ``batch`` has reached the day of its first transaction in it
        (input is in time order per partition), before any is admitted: a partition never
        waits for another of the same batch that has not been looked at yet. Returns those
        first messages, decoded, by their index in the batch."""
        firsts: dict[int, Decoded] = {}
        seen: set[int] = set()
        for index, message in enumerate(batch):
            if message.partition in seen:
                continue
            seen.add(message.partition)
            firsts[index] = decoded = self._decode(message)
            if isinstance(decoded[1], Transaction):
                barrier.reach(message.partition, day_of(decoded[1].timestamp.timestamp()))
        return firsts

    def _decode(self, message: Message) -> Decoded:
        """When the message was received, and its transaction or why it has none."""
        received_at = self._received_at(message)
        try:
            return received_at, self.envelopes.read_transaction(message, received_at)
        except (MalformedMessage, InvalidTransaction) as error:
            return received_at, error

    def _read(self, decoded: Decoded, message: Message, output: BatchOutput) -> Transaction | None:
        """The decoded message's transaction: None, and a dead letter naming what it broke,
        when it has none."""
        _, found = decoded
        if isinstance(found, Transaction):
            return found
        broken = (
            map(refusal, found.errors) if isinstance(found, InvalidTransaction) else [MALFORMED]
        )
        output.dead_letter(message, self.name, str(found), broken)
        return None

    def _features(self, admitted: Admitted) -> list[Preprocessed]:
        """Each admitted transaction's features, learnt into the profiles; every so many
        batches the users idle too long are forgotten."""
        accepted = admitted.accepted
        vectors = self.profiles.observe((t for t, _, _ in accepted), shards=admitted.shards)
        self._batches += 1
        if self._batches % EXPIRE_EVERY_BATCHES == 0:
            forgotten = self.profiles.expire()
            log.debug("idle users forgotten", count=forgotten, users=len(self.profiles))
        preprocessed_at = self.clock.now()
        if tracing(__name__):
            for transaction, _, carried in accepted:
                log.debug(
                    "features computed",
                    transaction_id=transaction.transaction_id,
                    trace_id=trace_id_of(carried),
                )
        return [
            Preprocessed(transaction, received_at, features, preprocessed_at, carried)
            for (transaction, received_at, carried), features in zip(accepted, vectors, strict=True)
        ]

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

    def wait_for_others(self, timeout: float) -> BatchOutput:
        """Learn what the other workers write until a held partition may go on, or for at
        most ``timeout`` seconds."""
        output = BatchOutput()
        if self.shared is None:
            return output
        barrier = self.shared.barrier
        deadline = time.monotonic() + timeout
        while (left := deadline - time.monotonic()) > 0:
            self.shared.catch_up(self.profiles, output, wait=left)
            if self._ready(barrier):
                break
        return output

    def releasable(self) -> set[tuple[str, int]]:
        """Held partitions whose day every other partition has now reached."""
        if self.shared is None:
            return set()
        ready = self._ready(self.shared.barrier)
        for partition in ready:
            self._wait_ended(partition)
        return {(Topic.TRANSACTIONS, partition) for partition in ready}

    def _ready(self, barrier: DayBarrier) -> set[int]:
        """The held partitions whose day every other partition has now reached."""
        return {p for p, (day, _) in self._waiting.items() if barrier.allows(p, day)}

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
                output.add(
                    Topic.MERCHANT_COUNTS, progress.message(partition, self.envelopes.serializer)
                )

    def _say_waiting(self, partition: int, day: int) -> None:
        waiting = self._waiting.get(partition)
        if waiting is not None and waiting[0] == day:
            return
        self._waiting[partition] = (day, self.clock.now() if waiting is None else waiting[1])
        behind = self._shared().barrier.behind(partition, day)
        log.info(
            "a partition waits for the others to reach its day",
            partition=partition,
            day=day_label(day),
            behind={
                q: "nothing yet" if r == -math.inf else day_label(int(r)) for q, r in behind.items()
            },
        )

    def _wait_ended(self, partition: int) -> None:
        day, since = self._waiting.pop(partition)
        log.info(
            "a partition's wait at the day barrier ended",
            partition=partition,
            day=day_label(day),
            waited_ms=round((self.clock.now() - since).total_seconds() * 1000, 1),
        )

    def _received_at(self, message: Message) -> datetime:
        return received_at(self.envelopes, self.clock, message)


def received_at(envelopes: Envelopes, clock: Clock, message: Message) -> datetime:
    """When the service received a transaction (see ``Envelopes.received_at``); now, for a
    bus that cannot say."""
    return envelopes.received_at(message) or clock.now()
