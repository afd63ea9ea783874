"""An in-process message bus with Kafka's contract: partitioned logs, consumer groups,
batch polls, commits, and redelivery of whatever a group had not committed.

It is the embedded bus of ``fraud run`` and the bus of unit tests. Messages live
in memory only: a process that stops loses its topics, which is why production
runs on Kafka. Retention is bounded: of what every group reading a partition has
committed, only the latest ``retained`` messages are kept, so memory does not
grow with traffic; nothing uncommitted is ever dropped. A topic no group reads
(``fraud-results`` under ``fraud run``, whose one pass never reads it back; only
followers such as the API's verdict waiter do) keeps its latest ``retained``
messages, as a log with a retention period would.
"""

from __future__ import annotations

import threading
import time
import zlib
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime

from fraud.domain.ports import (
    AssignedPartition,
    AssignmentListener,
    Message,
    OutgoingMessage,
    Topic,
)

RETAINED_MESSAGES = 10_000  # per partition, of what every group has committed


@dataclass
class _Group:
    committed: dict[tuple[str, int], int] = field(default_factory=dict)
    topics: set[str] = field(default_factory=set)
    members: int = 0


@dataclass
class _Log:
    """A partition: its messages from offset ``base`` on (those before were dropped)."""

    messages: list[Message] = field(default_factory=list)
    base: int = 0

    @property
    def end(self) -> int:
        return self.base + len(self.messages)

    def since(self, offset: int, count: int | None = None) -> list[Message]:
        start = max(offset - self.base, 0)
        return self.messages[start : None if count is None else start + count]


class MemoryBus:
    def __init__(
        self,
        topics: Sequence[str] = Topic.ALL,
        partitions: int = 1,
        *,
        retained: int = RETAINED_MESSAGES,
    ) -> None:
        self.partitions = partitions
        self.retained = retained
        self._logs: dict[str, list[_Log]] = {
            topic: [_Log() for _ in range(partitions)] for topic in topics
        }
        self._groups: dict[str, _Group] = {}
        self._changed = threading.Condition()

    def publish(self, topic: str, messages: Sequence[OutgoingMessage]) -> None:
        now = time.time()
        with self._changed:
            partitions = self._partitions_of(topic)
            for outgoing in messages:
                partition = (
                    self._partition_for(outgoing.key)
                    if outgoing.partition is None
                    else outgoing.partition
                )
                log = partitions[partition]
                log.messages.append(
                    Message(
                        topic=topic,
                        partition=partition,
                        offset=log.end,
                        key=outgoing.key,
                        value=outgoing.value or b"",  # a tombstone reads as empty, as on Kafka
                        headers=dict(outgoing.headers),
                        timestamp=now,
                    )
                )
            if not self._read_by_a_group(topic):
                for partition, log in enumerate(partitions):
                    if len(log.messages) > 2 * self.retained:  # trimmed now and then, not always
                        self._keep_latest(topic, partition, log.end)
            self._changed.notify_all()

    def publish_all(self, messages: Mapping[str, Sequence[OutgoingMessage]]) -> None:
        for topic, outgoing in messages.items():
            self.publish(topic, outgoing)

    def consumer(self, group: str, topics: Sequence[str]) -> MemoryConsumer:
        with self._changed:
            for topic in topics:
                self._partitions_of(topic)
            state = self._groups.setdefault(group, _Group())
            if state.members:
                raise RuntimeError(
                    f"group {group!r} already has a consumer; the memory bus has one per group"
                )
            state.members += 1
            state.topics.update(topics)
        return MemoryConsumer(self, group, tuple(topics))

    def follower(self, topics: Sequence[str]) -> MemoryFollower:
        with self._changed:
            for topic in topics:
                self._partitions_of(topic)
        return MemoryFollower(self, tuple(topics))

    def partition_count(self, topic: str) -> int:
        return self.partitions

    def read_back(
        self, topic: str, partition: int, *, since: datetime, until_offset: int
    ) -> Iterator[Message]:
        cutoff = since.timestamp()
        with self._changed:
            log = self._partitions_of(topic)[partition]
            history = log.since(log.base, max(until_offset - log.base, 0))
        return (m for m in history if m.timestamp is None or m.timestamp >= cutoff)

    def read_partition(self, topic: str, partition: int) -> Iterator[Message]:
        """Everything the partition still holds (nothing is compacted here)."""
        with self._changed:
            log = self._partitions_of(topic)[partition]
            return iter(log.since(log.base, len(log.messages)))

    def read_topic(self, topic: str, limit: int | None = None) -> list[Message]:
        """Everything ever published to ``topic``, partition by partition (for inspection)."""
        with self._changed:
            found = [message for log in self._partitions_of(topic) for message in log.messages]
        return found if limit is None else found[:limit]

    def lag(self, group: str, topic: str) -> int:
        with self._changed:
            committed = self._groups.get(group, _Group()).committed
            return sum(
                log.end - committed.get((topic, partition), 0)
                for partition, log in enumerate(self._partitions_of(topic))
            )

    def known_groups(self) -> set[str]:
        with self._changed:
            return set(self._groups)

    def size(self, topic: str) -> int:
        with self._changed:
            return sum(len(log.messages) for log in self._partitions_of(topic))

    def reachable(self) -> bool:
        return True

    def _drop_committed(self, topic: str, partition: int) -> None:
        """Keep, of what every group reading the partition committed, the latest ``retained``
        messages (the caller holds the condition's lock)."""
        readers = [g for g in self._groups.values() if topic in g.topics]
        if not readers:
            return
        self._keep_latest(
            topic, partition, min(g.committed.get((topic, partition), 0) for g in readers)
        )

    def _read_by_a_group(self, topic: str) -> bool:
        return any(topic in group.topics for group in self._groups.values())

    def _keep_latest(self, topic: str, partition: int, done: int) -> None:
        """Drop what comes before ``done``, but for the latest ``retained`` messages."""
        log = self._logs[topic][partition]
        drop = done - self.retained - log.base
        if drop > 0:
            del log.messages[:drop]
            log.base += drop

    def _partitions_of(self, topic: str) -> list[_Log]:
        if topic not in self._logs:
            raise KeyError(f"unknown topic {topic!r}")
        return self._logs[topic]

    def _partition_for(self, key: str | None) -> int:
        if key is None:
            return 0
        return zlib.crc32(key.encode("utf-8")) % self.partitions


class MemoryConsumer:
    """One group member; reads every partition of its topics from the group's committed offsets."""

    def __init__(self, bus: MemoryBus, group: str, topics: tuple[str, ...]) -> None:
        self._bus = bus
        self._group = group
        self._topics = topics
        committed = bus._groups[group].committed
        self._position = {
            (topic, partition): committed.get((topic, partition), 0)
            for topic in topics
            for partition in range(bus.partitions)
        }
        self._closed = False
        self._listener: AssignmentListener | None = None
        self._announced = False

    def on_assigned(self, listener: AssignmentListener) -> None:
        self._listener = listener

    def poll_batch(self, max_messages: int, timeout: float) -> list[Message]:
        if not self._announced:
            # One member per group owns every partition, from the moment it first polls.
            self._announced = True
            if self._listener is not None:
                moved = self._listener(
                    [
                        AssignedPartition(topic, partition, position)
                        for (topic, partition), position in self._position.items()
                    ]
                )
                for resume in moved:
                    self._position[(resume.topic, resume.partition)] = resume.resume_at
        deadline = time.monotonic() + timeout
        with self._bus._changed:
            while True:
                batch = self._take(max_messages)
                remaining = deadline - time.monotonic()
                if batch or remaining <= 0 or self._closed:
                    return batch
                self._bus._changed.wait(remaining)

    def rewind(self, held: Sequence[Message]) -> None:
        with self._bus._changed:
            for message in reversed(held):  # the first held of each partition wins
                self._position[(message.topic, message.partition)] = message.offset

    def resume(self, partitions: set[tuple[str, int]]) -> None:
        """Nothing is fetched ahead here: a rewound partition is handed out by the next poll."""

    def idle_partitions(self) -> set[tuple[str, int]]:
        """Publishing is synchronous here: a partition read to its end has nothing on its way."""
        with self._bus._changed:
            return {
                (topic, partition)
                for (topic, partition), position in self._position.items()
                if position >= self._bus._logs[topic][partition].end
            }

    def commit(self) -> None:
        with self._bus._changed:
            self._bus._groups[self._group].committed.update(self._position)
            for topic, partition in self._position:
                self._bus._drop_committed(topic, partition)

    def close(self) -> None:
        with self._bus._changed:
            if not self._closed:
                self._closed = True
                self._bus._groups[self._group].members -= 1
                self._bus._changed.notify_all()

    def _take(self, max_messages: int) -> list[Message]:
        return _take(self._bus, self._position, max_messages)


class MemoryFollower:
    """Reads every partition of its topics from the start, in no group: what it reads is
    never dropped for its sake (no group commits it), as a compacted topic keeps it."""

    def __init__(self, bus: MemoryBus, topics: tuple[str, ...]) -> None:
        self._bus = bus
        self._topics = topics
        self._position: dict[tuple[str, int], int] = {}
        self.rewind()

    def poll(self, max_messages: int, timeout: float = 0.0) -> list[Message]:
        deadline = time.monotonic() + timeout
        with self._bus._changed:
            while True:
                batch = _take(self._bus, self._position, max_messages)
                remaining = deadline - time.monotonic()
                if batch or remaining <= 0:
                    return batch
                self._bus._changed.wait(remaining)

    def read_to_end(self) -> Iterator[Message]:
        while batch := self.poll(10_000):
            yield from batch

    def rewind(self) -> None:
        self._position = {
            (topic, partition): 0
            for topic in self._topics
            for partition in range(self._bus.partitions)
        }

    def skip_to_end(self) -> None:
        with self._bus._changed:
            self._position = {
                (topic, partition): self._bus._logs[topic][partition].end
                for topic, partition in self._position
            }

    def close(self) -> None:
        pass


def _take(
    bus: MemoryBus, positions: dict[tuple[str, int], int], max_messages: int
) -> list[Message]:
    """Up to ``max_messages`` from the partitions at ``positions``, which move past them (the
    caller holds the bus's lock)."""
    batch: list[Message] = []
    for (topic, partition), position in positions.items():
        log = bus._logs[topic][partition]
        taken = log.since(position, max_messages - len(batch))
        batch.extend(taken)
        positions[(topic, partition)] = max(position, log.base) + len(taken)
        if len(batch) >= max_messages:
            break
    return batch
