"""A group member that hands out batches and commits exactly what it handed out."""

from __future__ import annotations

import time
from collections.abc import Sequence

import structlog
from confluent_kafka import Consumer, KafkaError, KafkaException, TopicPartition
from confluent_kafka import Message as KafkaMessage

from fraud.domain.errors import TransientFailure
from fraud.domain.ports import AssignedPartition, AssignmentListener, Message

log = structlog.get_logger(__name__)

COMMITTED_LOOKUP_TIMEOUT_S = 10.0
COMMITTED_RETRY_MAX_S = 5.0
# A partition read to its end is idle once nothing more came for this long: a producer's
# messages on their way (batched, in flight) land well within it.
IDLE_AFTER_S = 2.0
# A held partition is not paused at first: what the client fetches of it meanwhile waits
# here behind the held messages. Pausing and resuming cost librdkafka fetch round trips (a
# resumed partition's next message came 116 ms after a 50 ms pause in isolation, and 350 to
# 850 ms late in the bench's first second, where every partition is held once at the day
# barrier); only a partition holding this many messages is paused, which bounds the memory.
HOLD_WITHOUT_PAUSE = 5_000


def to_domain(raw: KafkaMessage, prefix: str = "") -> Message:
    """The message as the core sees it: text key and headers, the topic's logical name."""
    key = raw.key()
    _, timestamp_ms = raw.timestamp()
    return Message(
        topic=raw.topic().removeprefix(prefix),
        partition=raw.partition(),
        offset=raw.offset(),
        key=key.decode("utf-8", errors="replace") if key is not None else None,
        value=raw.value() or b"",
        headers={
            name: (value or b"").decode("utf-8", errors="replace")
            for name, value in (raw.headers() or [])
        },
        timestamp=timestamp_ms / 1000.0 if timestamp_ms > 0 else None,
    )


class KafkaMessageConsumer:
    def __init__(self, consumer: Consumer, topics: list[str], prefix: str = "") -> None:
        self._consumer = consumer
        self._topics = topics
        self._prefix = prefix
        self._listener: AssignmentListener | None = None
        # Next offset to commit per partition: one past the last message handed out.
        self._pending: dict[tuple[str, int], int] = {}
        # Per partition: the next offset to hand out, and since when that is its end.
        self._next: dict[tuple[str, int], int] = {}
        self._at_end_since: dict[tuple[str, int], float] = {}
        self._asked_at: dict[tuple[str, int], float] = {}  # when each end was last asked
        self._answered: dict[tuple[str, int], tuple[int, int]] = {}  # and what the broker said
        self._holding: set[tuple[str, int]] = set()  # held back until resumed
        self._paused: set[tuple[str, int]] = set()  # of those, the ones paused in the client
        # Messages held back, kept here rather than fetched again: per held partition while
        # it waits (with what was fetched of it since), then in ``_ready`` to be handed out
        # first once it is resumed.
        self._held: dict[tuple[str, int], list[Message]] = {}
        self._ready: list[Message] = []
        self._closed = False
        consumer.subscribe(
            [prefix + topic for topic in topics],
            on_assign=self._assigned,
            on_revoke=self._revoked,
            on_lost=self._revoked,
        )

    def on_assigned(self, listener: AssignmentListener) -> None:
        self._listener = listener

    def poll_batch(self, max_messages: int, timeout: float) -> list[Message]:
        """What is already fetched, up to ``max_messages``; waits only while there is nothing.

        ``consume(n, timeout)`` would wait for ``n`` messages or the whole timeout,
        adding that wait to every message's latency at low load; this returns the
        moment one is there, and still makes full batches under load.
        """
        if self._ready:  # nothing fetched after them goes first
            return self._take_ready(max_messages)
        raws = self._consumer.consume(max_messages, 0)
        if not raws:
            first = self._consumer.poll(timeout)
            if first is None:
                return []
            raws = [first, *self._consumer.consume(max_messages - 1, 0)]
        batch: list[Message] = []
        for raw in raws:
            error = raw.error()
            if error is not None:
                if error.fatal():
                    raise KafkaException(error)
                if error.code() != KafkaError._PARTITION_EOF:
                    log.warning("consumer error", error=error.str(), topics=self._topics)
                continue
            where = (raw.topic(), raw.partition())
            if where in self._holding:
                self._hold_more(where, to_domain(raw, self._prefix))
                continue
            batch.append(to_domain(raw, self._prefix))
            self._pending[where] = raw.offset() + 1
            self._next[where] = raw.offset() + 1
        return batch

    def _hold_more(self, where: tuple[str, int], message: Message) -> None:
        """A message fetched of a held partition waits behind those held; past
        ``HOLD_WITHOUT_PAUSE`` of them the partition is paused, after the last one fetched."""
        held = self._held.setdefault(where, [])
        held.append(message)
        if len(held) >= HOLD_WITHOUT_PAUSE and where not in self._paused:
            self._consumer.pause([TopicPartition(*where, message.offset + 1)])
            self._paused.add(where)

    def _take_ready(self, max_messages: int) -> list[Message]:
        """Held messages of resumed partitions, in order, before anything fetched after them."""
        batch, self._ready = self._ready[:max_messages], self._ready[max_messages:]
        for message in batch:
            where = self._where(message)
            self._pending[where] = message.offset + 1
            self._next[where] = message.offset + 1
        return batch

    def rewind(self, held: Sequence[Message]) -> None:
        """Keep ``held`` here, and what is fetched of their partitions until they are resumed:
        fetching them again from the broker (a seek back) cost a fetch round trip and three
        reads a message."""
        by_partition: dict[tuple[str, int], list[Message]] = {}
        for message in held:
            by_partition.setdefault(self._where(message), []).append(message)
        if self._ready:  # what of those partitions was not handed out yet waits behind them
            others = []
            for message in self._ready:
                behind = by_partition.get(self._where(message))
                if behind is None:
                    others.append(message)
                else:
                    behind.append(message)
            self._ready = others
        for where, messages in by_partition.items():
            messages.sort(key=lambda message: message.offset)
            self._held[where] = messages
            topic, partition = where
            # The client goes on fetching after the last one held, which is where it stands
            # already when the held ones are the last it handed out (always, as the stages
            # hold a partition from a message on); elsewhere it is sent there. A seek costs
            # librdkafka a second before it fetches again, so it is made only where needed.
            after = TopicPartition(topic, partition, messages[-1].offset + 1)
            if self._consumer.position([after])[0].offset != after.offset:
                self._consumer.pause([after])
                self._consumer.seek(after)
                self._paused.add(where)
            self._pending[where] = messages[0].offset
            self._next[where] = messages[0].offset
            self._holding.add(where)

    def _where(self, message: Message) -> tuple[str, int]:
        return self._prefix + message.topic, message.partition

    def resume(self, partitions: set[tuple[str, int]]) -> None:
        due = {(self._prefix + topic, partition) for topic, partition in partitions}
        due &= self._holding
        for where in sorted(due):
            self._ready.extend(self._held.pop(where, ()))
        self._holding -= due
        if paused := due & self._paused:
            self._consumer.resume([TopicPartition(topic, p) for topic, p in sorted(paused)])
            self._paused -= paused

    def idle_partitions(self) -> set[tuple[str, int]]:
        """Partitions handed out up to their high watermark for ``IDLE_AFTER_S``."""
        now = time.monotonic()
        idle = set()
        for where, next_offset in self._next.items():
            low, high = self._watermarks(where, next_offset, now)
            if high is None or max(next_offset, low) < high:
                self._at_end_since.pop(where, None)
                continue
            if now - self._at_end_since.setdefault(where, now) >= IDLE_AFTER_S:
                topic, partition = where
                idle.add((topic.removeprefix(self._prefix), partition))
        return idle

    def _watermarks(
        self, where: tuple[str, int], next_offset: int, now: float
    ) -> tuple[int, int | None]:
        """The client keeps each partition's high watermark from its latest fetch of messages;
        a partition it never fetched a message from (empty, say) is asked of the broker, at
        most once every ``IDLE_AFTER_S``, and its answer stands until then unless more was
        handed out since than it knew of (a partition that was idle at one look and unknown
        at the next flipped to busy and back every two seconds, holding the other workers'
        first transactions of a day meanwhile). The high one is None while it cannot be
        known."""
        partition = TopicPartition(*where)
        low, high = self._consumer.get_watermark_offsets(partition, cached=True)
        if high >= 0:
            return max(low, 0), high
        if now - self._asked_at.get(where, -IDLE_AFTER_S) < IDLE_AFTER_S:
            answered = self._answered.get(where)
            if answered is None or next_offset > answered[1]:
                return 0, None  # not known, or known to be out of date
            return answered
        answered = self._ask_end(where, now)
        return (0, None) if answered is None else answered  # None: the broker away, or no end

    def _ask_end(self, where: tuple[str, int], now: float) -> tuple[int, int] | None:
        """The partition's watermarks as the broker tells them now, kept until the next ask
        (see ``_watermarks``); None when it cannot say."""
        self._asked_at[where] = now
        self._answered.pop(where, None)
        try:
            low, high = self._consumer.get_watermark_offsets(TopicPartition(*where), timeout=1.0)
        except KafkaException:
            return None
        if high < 0:
            return None
        self._answered[where] = (max(low, 0), high)
        return self._answered[where]

    def commit(self) -> None:
        if not self._pending:
            return
        offsets = [TopicPartition(t, p, offset) for (t, p), offset in self._pending.items()]
        try:
            self._consumer.commit(offsets=offsets, asynchronous=False)
        except KafkaException as error:
            kafka_error = error.args[0] if error.args else None
            if isinstance(kafka_error, KafkaError) and kafka_error.code() in (
                KafkaError.REBALANCE_IN_PROGRESS,
                KafkaError.ILLEGAL_GENERATION,
                KafkaError.UNKNOWN_MEMBER_ID,
            ):
                # The partitions moved on: their new owner re-reads from the last commit.
                log.warning("commit refused after a rebalance", error=str(error))
                self._pending.clear()
                return
            raise TransientFailure(f"commit failed: {error}") from error
        self._pending.clear()

    def close(self) -> None:
        """Leave the group at once, so partitions move without waiting for a session timeout."""
        if not self._closed:
            self._closed = True
            self._consumer.close()

    def _assigned(self, consumer: Consumer, partitions: Sequence[TopicPartition]) -> None:
        self._at_end_since.clear()
        if not partitions:
            return
        committed = self._committed(consumer, partitions)
        self._next = {(p.topic, p.partition): max(p.offset, 0) for p in committed}
        self._idle_from_the_start(committed)
        assigned = [
            AssignedPartition(
                p.topic.removeprefix(self._prefix), p.partition, p.offset if p.offset >= 0 else 0
            )
            for p in committed
        ]
        log.info(
            "partitions assigned",
            partitions=[f"{p.topic}[{p.partition}]@{p.resume_at}" for p in assigned],
        )
        if self._listener is None:
            return
        moved = {(p.topic, p.partition): p.resume_at for p in self._listener(assigned)}
        for (topic, partition), offset in moved.items():
            self._next[(self._prefix + topic, partition)] = offset
        if moved:
            # Assigning in the callback sets where each partition starts; the rest resume
            # at their committed offset, as they would have.
            consumer.assign(
                [
                    TopicPartition(
                        p.topic,
                        p.partition,
                        moved.get((p.topic.removeprefix(self._prefix), p.partition), p.offset),
                    )
                    for p in committed
                ]
            )
            log.info(
                "partitions resume where their state was written",
                partitions=[
                    f"{topic}[{partition}]@{at}" for (topic, partition), at in moved.items()
                ],
            )

    def _idle_from_the_start(self, committed: Sequence[TopicPartition]) -> None:
        """A partition handed over already read to its end is idle at once, not after
        ``IDLE_AFTER_S``: other workers hold back their transactions of a new day until they
        hear that every partition has reached it or is idle, and waiting out the grace at
        every start or rebalance stalled the first seconds of traffic."""
        now = time.monotonic()
        for position in committed:
            where = (position.topic, position.partition)
            answered = self._ask_end(where, now)
            if answered is None:
                continue  # unknown: idle the usual way, once seen at its end long enough
            low, high = answered
            if max(position.offset, low) >= high:
                self._at_end_since[where] = now - IDLE_AFTER_S

    @staticmethod
    def _committed(
        consumer: Consumer, partitions: Sequence[TopicPartition]
    ) -> list[TopicPartition]:
        """The group's committed offsets, asked again while the coordinator cannot answer (a
        broker just back is still loading the group): raising here, inside the rebalance
        callback, would stop the stage, and returning without them would start the
        partitions nowhere in particular."""
        attempt = 0
        while True:
            try:
                return consumer.committed(list(partitions), timeout=COMMITTED_LOOKUP_TIMEOUT_S)
            except KafkaException as error:
                kafka_error = error.args[0] if error.args else None
                if isinstance(kafka_error, KafkaError) and kafka_error.fatal():
                    raise
                attempt += 1
                log.warning(
                    "committed offsets not available yet, asking again",
                    error=str(error),
                    attempt=attempt,
                )
                time.sleep(min(COMMITTED_RETRY_MAX_S, 0.1 * 2**attempt))

    def _revoked(self, consumer: Consumer, partitions: Sequence[TopicPartition]) -> None:
        held = [p for p in partitions if (p.topic, p.partition) in self._paused]
        self._paused -= {(p.topic, p.partition) for p in held}
        if held:
            # Not left paused: handed back to this member by the rebalance, nothing here
            # would resume it, and it would never be fetched again.
            try:
                consumer.resume(held)
            except KafkaException as error:
                log.warning("held partitions could not be resumed", error=str(error))
        gone = {(p.topic, p.partition) for p in partitions}
        self._holding -= gone
        for where in gone:
            self._held.pop(where, None)  # their new owner reads them from the last commit
        self._ready = [m for m in self._ready if self._where(m) not in gone]
        for p in partitions:
            self._pending.pop((p.topic, p.partition), None)
            self._next.pop((p.topic, p.partition), None)
            self._at_end_since.pop((p.topic, p.partition), None)
        log.info("partitions revoked", partitions=[f"{p.topic}[{p.partition}]" for p in partitions])
