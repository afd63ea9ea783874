"""The message bus on Apache Kafka (confluent-kafka / librdkafka).

Producing: idempotent, ``acks=all``, keyed by user, asynchronous within a batch
and flushed once per batch; a delivery failure raises ``TransientFailure`` so
the caller retries instead of believing the batch is safe.

Consuming: batches, offsets committed explicitly and only after the batch's
output is durable (the stage loop calls ``commit`` after publishing).
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from datetime import UTC, datetime
from typing import Any, TypeVar

import structlog
from confluent_kafka import (
    OFFSET_BEGINNING,
    Consumer,
    KafkaError,
    KafkaException,
    Producer,
    TopicPartition,
)
from confluent_kafka import Message as KafkaMessage
from confluent_kafka.admin import AdminClient

from fraud.adapters.kafka.consumer import KafkaMessageConsumer, to_domain
from fraud.adapters.kafka.settings import PLAINTEXT, admin_config, consumer_config, producer_config
from fraud.domain.errors import MessageRefused, TransientFailure
from fraud.domain.ports import Message, OutgoingMessage
from fraud.settings import KafkaSecurity

WATERMARK_TIMEOUT_S = 10.0
# What a broker answers about a partition whose leadership is still to settle: a topic made
# a moment ago, a leader moved, or, after a failover, a node back with an older leader epoch
# than the client learnt meanwhile ("Leader epoch is newer than broker epoch").
_NO_LEADER_YET = {
    KafkaError.NOT_LEADER_FOR_PARTITION,
    KafkaError.LEADER_NOT_AVAILABLE,
    KafkaError.UNKNOWN_TOPIC_OR_PART,
    KafkaError.UNKNOWN_LEADER_EPOCH,
    KafkaError.FENCED_LEADER_EPOCH,
}

log = structlog.get_logger(__name__)

DELIVERY_TIMEOUT_S = 30.0
REACHABLE_TIMEOUT_S = 1.0
READ_BACK_IDLE_POLLS = 20  # half a second each: a broker silent this long is not catching up
_EPOCH = datetime.fromtimestamp(0, UTC)
T = TypeVar("T")


class PublishRejected(MessageRefused):
    """The broker (or the client) refused messages for a reason retrying cannot fix."""


class IncompleteReadBack(TransientFailure):
    """A partition's history could not be read to the end: the state would be partial."""


class KafkaBus:
    def __init__(
        self,
        bootstrap: str,
        *,
        client_id: str = "fraud",
        topic_prefix: str = "",
        delivery_timeout_s: float = DELIVERY_TIMEOUT_S,
        security: KafkaSecurity = PLAINTEXT,
    ) -> None:
        self.bootstrap = bootstrap
        self.topic_prefix = topic_prefix
        self.client_id = client_id
        self.delivery_timeout_s = delivery_timeout_s
        self.security = security
        self._producer = Producer(producer_config(bootstrap, client_id, security))

    def publish(self, topic: str, messages: Sequence[OutgoingMessage]) -> None:
        self.publish_all({topic: messages})

    def publish_all(self, messages: Mapping[str, Sequence[OutgoingMessage]]) -> None:
        failures: list[tuple[str, KafkaError]] = []

        def delivered(error: KafkaError | None, message: KafkaMessage) -> None:
            if error is not None:
                failures.append((message.topic() or "", error))

        for topic, outgoing in messages.items():
            physical = self.topic_prefix + topic
            for message in outgoing:
                self._produce(physical, message, delivered)
        pending = self._producer.flush(self.delivery_timeout_s)
        named = " and ".join(messages)
        permanent = [(t, f) for t, f in failures if _refused(f)]
        if permanent:
            # Retrying cannot help (a message too large, a fenced producer): stop loudly.
            topic, failure = permanent[0]
            refused_on = topic.removeprefix(self.topic_prefix) or named
            raise PublishRejected(f"publishing to {refused_on} refused: {failure.str()}")
        if pending or failures:
            reason = failures[0][1].str() if failures else f"{pending} messages still in flight"
            count = sum(len(outgoing) for outgoing in messages.values())
            raise TransientFailure(f"publishing {count} messages to {named} failed: {reason}")

    def _produce(self, topic: str, message: OutgoingMessage, delivered: Any) -> None:
        while True:
            try:
                self._producer.produce(
                    topic,
                    value=message.value,
                    key=message.key.encode("utf-8") if message.key is not None else None,
                    headers=[
                        (name, value.encode("utf-8")) for name, value in message.headers.items()
                    ],
                    on_delivery=delivered,
                    **({} if message.partition is None else {"partition": message.partition}),
                )
                return
            except BufferError:
                self._producer.poll(0.05)  # the local queue is full: let deliveries drain
            except KafkaException as error:
                kafka_error = error.args[0]
                if kafka_error.fatal() or not kafka_error.retriable():
                    # Retrying cannot help: too large for the broker's limit, say.
                    raise PublishRejected(f"{topic} refuses it: {kafka_error.str()}") from error
                raise TransientFailure(f"cannot produce to {topic}: {error}") from error

    def consumer(self, group: str, topics: Sequence[str]) -> KafkaMessageConsumer:
        config = consumer_config(self.bootstrap, group, self.client_id, self.security)
        return KafkaMessageConsumer(Consumer(config), list(topics), self.topic_prefix)

    def read_back(
        self, topic: str, partition: int, *, since: datetime, until_offset: int
    ) -> Iterator[Message]:
        """Reads with a group-less consumer of its own, so the group's offsets stay untouched."""
        if until_offset <= 0:
            return iter(())
        return _read_range(self._reader(), self.topic_prefix, topic, partition, since, until_offset)

    def read_partition(self, topic: str, partition: int) -> Iterator[Message]:
        """From the low to the high watermark as they are now, with a group-less reader.

        The watermarks are looked up first, so messages produced meanwhile are left for
        the consumer that follows; the reader also stops at the partition's end, since
        compaction may have removed the message just below the high watermark.
        """
        low, high = self._watermarks(topic)[partition]
        if high <= low:
            return iter(())
        reader = self._reader(**{"enable.partition.eof": True})
        return _read_offsets(reader, self.topic_prefix, topic, partition, low, high)

    def reachable(self) -> bool:
        try:
            self._producer.list_topics(timeout=REACHABLE_TIMEOUT_S)
        except KafkaException:
            return False
        return True

    def read_topic(self, topic: str, limit: int | None = None) -> list[Message]:
        """Everything the topic holds now, partition by partition (for operators' tools)."""
        found: list[Message] = []
        for partition, (_, end) in self._watermarks(topic).items():
            found.extend(self.read_back(topic, partition, since=_EPOCH, until_offset=end))
            if limit is not None and len(found) >= limit:
                return found[:limit]
        return found

    def size(self, topic: str) -> int:
        """The sum over partitions of the high watermark less the low one."""
        return sum(high - low for low, high in self._watermarks(topic).values())

    def _watermarks(self, topic: str) -> dict[int, tuple[int, int]]:
        """Each partition's low and high watermark offsets, by partition number."""
        physical = self.topic_prefix + topic
        reader = self._reader()
        try:
            with _retried_later(f"{physical}'s offsets"):
                metadata = reader.list_topics(physical, timeout=10).topics[physical]
                if metadata.error is not None:
                    raise KafkaException(metadata.error)
                return {
                    partition: _watermarks_once_led(reader, TopicPartition(physical, partition))
                    for partition in sorted(metadata.partitions)
                }
        finally:
            reader.close()

    def lag(self, group: str, topic: str) -> int:
        """Messages on ``topic`` that ``group`` has not committed yet (all partitions)."""
        physical = self.topic_prefix + topic
        probe = Consumer(consumer_config(self.bootstrap, group, self.client_id, self.security))
        try:
            metadata = probe.list_topics(physical, timeout=10).topics[physical]
            partitions = [TopicPartition(physical, p) for p in sorted(metadata.partitions)]
            committed = probe.committed(partitions, timeout=10)
            total = 0
            for position in committed:
                low, high = _watermarks_once_led(probe, position)
                total += high - (position.offset if position.offset >= 0 else low)
            return total
        finally:
            probe.close()

    def known_groups(self) -> set[str]:
        admin = AdminClient(admin_config(self.bootstrap, self.security))
        try:
            listed = admin.list_consumer_groups(request_timeout=10).result()
        except KafkaException as error:
            raise TransientFailure(f"cannot list consumer groups: {error}") from error
        return {group.group_id for group in listed.valid}

    def follower(self, topics: Sequence[str]) -> KafkaFollower:
        physical = [self.topic_prefix + topic for topic in topics]
        reader = self._reader(**{"enable.partition.eof": True})
        try:
            partitions = [
                TopicPartition(topic, partition)
                for topic, count in self._counts(reader, physical).items()
                for partition in range(count)
            ]
        except BaseException:
            reader.close()
            raise
        return KafkaFollower(reader, partitions, self.topic_prefix)

    def partition_count(self, topic: str) -> int:
        physical = self.topic_prefix + topic
        reader = self._reader()
        try:
            return self._counts(reader, [physical])[physical]
        finally:
            reader.close()

    @staticmethod
    def _counts(reader: Consumer, topics: Sequence[str]) -> dict[str, int]:
        counts = {}
        for topic in topics:
            with _retried_later(topic):
                metadata = reader.list_topics(topic, timeout=10).topics[topic]
                if metadata.error is not None:
                    raise KafkaException(metadata.error)
            counts[topic] = len(metadata.partitions)
        return counts

    def _reader(self, **overrides: Any) -> Consumer:
        group = f"{self.client_id}-reader-{uuid.uuid4().hex}"  # never commits, never joins
        config = consumer_config(self.bootstrap, group, self.client_id, self.security)
        return Consumer({**config, **overrides})

    def close(self) -> None:
        remaining = self._producer.flush(self.delivery_timeout_s)
        if remaining:
            log.error("messages not delivered at shutdown", count=remaining)


class KafkaFollower:
    """A group-less reader assigned every partition of its topics from their beginning."""

    def __init__(self, reader: Consumer, partitions: list[TopicPartition], prefix: str) -> None:
        self._reader = reader
        self._partitions = partitions
        self._prefix = prefix
        self.rewind()

    def poll(self, max_messages: int, timeout: float = 0.0) -> list[Message]:
        """What is already fetched, up to ``max_messages``; waits up to ``timeout`` only while
        there is nothing. ``consume(n, timeout)`` would wait for ``n`` or the whole timeout:
        a client waiting for its verdict waited up to 200 ms more at low load."""
        raws = self._reader.consume(max_messages, 0)
        if not raws and timeout > 0:
            first = self._reader.poll(timeout)
            if first is not None:
                rest = self._reader.consume(max_messages - 1, 0) if max_messages > 1 else []
                raws = [first, *rest]
        return list(self._consumed(raws))

    def read_to_end(self) -> Iterator[Message]:
        """Up to the high watermarks as they are now (or each partition's reported end)."""
        ends = {}
        for partition in self._partitions:
            if (high := self._end_of(partition)) > 0:
                ends[(partition.topic, partition.partition)] = high
        idle_polls = 0
        while ends:
            raws = self._reader.consume(1000, 0.5)
            idle_polls = 0 if raws else idle_polls + 1
            if idle_polls >= READ_BACK_IDLE_POLLS:
                raise IncompleteReadBack(f"{sorted(ends)} not read to their end")
            for raw in raws:
                where = (raw.topic(), raw.partition())
                error = raw.error()
                if error is not None and error.code() == KafkaError._PARTITION_EOF:
                    ends.pop(where, None)
                    continue
                if error is not None:
                    raise IncompleteReadBack(f"reading {where}: {error.str()}")
                yield to_domain(raw, self._prefix)
                if raw.offset() + 1 >= ends.get(where, 0):
                    ends.pop(where, None)

    def rewind(self) -> None:
        self._reader.assign(
            [TopicPartition(p.topic, p.partition, OFFSET_BEGINNING) for p in self._partitions]
        )

    def skip_to_end(self) -> None:
        """At each partition's high watermark as the broker gives it now (not the lazy
        ``OFFSET_END``, which would skip what is published before the first fetch)."""
        self._reader.assign(
            [TopicPartition(p.topic, p.partition, self._end_of(p)) for p in self._partitions]
        )

    def close(self) -> None:
        self._reader.close()

    def _end_of(self, partition: TopicPartition) -> int:
        try:
            return _watermarks_once_led(self._reader, partition)[1]
        except KafkaException as error:
            where = f"{partition.topic}[{partition.partition}]"
            raise TransientFailure(f"cannot look up {where}'s end: {error}") from error

    def _consumed(self, raws: list[KafkaMessage]) -> Iterator[Message]:
        for raw in raws:
            error = raw.error()
            if error is None:
                yield to_domain(raw, self._prefix)
            elif error.fatal():
                raise KafkaException(error)


def _read_range(
    reader: Consumer, prefix: str, topic: str, partition: int, since: datetime, until_offset: int
) -> Iterator[Message]:
    """The partition's messages from the first one at ``since`` up to ``until_offset``;
    closes the reader. A broker whose answer retrying can change is a ``TransientFailure``."""
    wanted = TopicPartition(prefix + topic, partition, int(since.timestamp() * 1000))
    try:
        with _retried_later(f"{wanted.topic}[{partition}]"):
            (start,) = _once_led(lambda: reader.offsets_for_times([wanted], timeout=10))
    except BaseException:
        reader.close()
        raise
    if start.offset < 0:
        reader.close()
        return iter(())  # nothing was accepted since then
    return _read_offsets(reader, prefix, topic, partition, start.offset, until_offset)


# Not delivered because no broker answered in time: librdkafka does not call these
# retriable (it gave up on the message), but the same message sent again once the
# broker is back is delivered.
_UNANSWERED = frozenset(
    {
        KafkaError._MSG_TIMED_OUT,
        KafkaError._TIMED_OUT,
        KafkaError._TRANSPORT,
        KafkaError._ALL_BROKERS_DOWN,
    }
)


def _refused(error: KafkaError) -> bool:
    """Whether sending the message again cannot help (too large for the broker, a fenced
    producer); a broker that was away is not that."""
    return error.fatal() or (not error.retriable() and error.code() not in _UNANSWERED)


def _watermarks_once_led(reader: Consumer, partition: TopicPartition) -> tuple[int, int]:
    """The partition's low and high watermarks, once a broker leads it."""
    low, high = _once_led(lambda: reader.get_watermark_offsets(partition, timeout=10))
    return int(low), int(high)


def _once_led(ask: Callable[[], T]) -> T:
    """What ``ask`` gets from a partition's leader. A topic created a moment ago has no
    leader yet for a while, and a partition's leadership can move (_NO_LEADER_YET): asked
    again until one leads it, for at most WATERMARK_TIMEOUT_S."""
    deadline = time.monotonic() + WATERMARK_TIMEOUT_S
    while True:
        try:
            return ask()
        except KafkaException as error:
            code = error.args[0].code() if error.args else None
            if code in _NO_LEADER_YET and time.monotonic() < deadline:
                time.sleep(0.1)
                continue
            raise


@contextmanager
def _retried_later(what: str) -> Iterator[None]:
    """Looking ``what`` up: an answer that asking again later can change (the broker away,
    its partitions' leaders moving) is a ``TransientFailure``; a lasting one goes through."""
    try:
        yield
    except KafkaException as error:
        if _lasting(error):
            raise
        raise TransientFailure(f"cannot look up {what}: {error}") from error


def _lasting(error: KafkaException) -> bool:
    """Whether asking again cannot help: a fatal error, or a topic that does not exist."""
    kafka_error = error.args[0] if error.args else None
    return isinstance(kafka_error, KafkaError) and (
        kafka_error.fatal() or kafka_error.code() == KafkaError.UNKNOWN_TOPIC_OR_PART
    )


def _read_offsets(
    reader: Consumer, prefix: str, topic: str, partition: int, start: int, until_offset: int
) -> Iterator[Message]:
    """The partition's messages from ``start`` up to (excluding) ``until_offset``, or to the
    partition's end if the reader reports it (``enable.partition.eof``); closes the reader."""
    try:
        reader.assign([TopicPartition(prefix + topic, partition, start)])
        position = start
        idle_polls = 0
        while position < until_offset:
            # Asking for no more than is left returns the last batch without waiting out
            # the timeout (where compaction left gaps, the end of the partition ends it).
            batch = reader.consume(min(1000, until_offset - position), 0.5)
            idle_polls = 0 if batch else idle_polls + 1
            if idle_polls >= READ_BACK_IDLE_POLLS:
                raise IncompleteReadBack(
                    f"{prefix}{topic}[{partition}] stopped at offset {position} "
                    f"before {until_offset}"
                )
            for raw in batch:
                error = raw.error()
                if error is not None:
                    if error.code() == KafkaError._PARTITION_EOF:
                        return  # only a reader that asked for it is told
                    raise IncompleteReadBack(f"reading {prefix}{topic}[{partition}]: {error.str()}")
                position = raw.offset() + 1
                if raw.offset() >= until_offset:
                    return
                yield to_domain(raw, prefix)
    finally:
        reader.close()
