"""The message bus: the pipeline's topics, messages, producers and consumers."""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Protocol


class Topic:
    """The pipeline's topics; their names are the contract with other producers."""

    TRANSACTIONS = "transactions"
    PREPROCESSED = "preprocessed-transactions"
    RESULTS = "fraud-results"
    DEAD_LETTERS = "fraud-dlq"
    # The preprocess stage's state store: each user's behaviour history, compacted to the
    # latest per user, in the partition of the user's transactions.
    STATE = "behaviour-state"
    # Labels as they become known (analysts, chargebacks): the features' late knowledge.
    LABELS = "fraud-labels"
    ALL = (TRANSACTIONS, PREPROCESSED, RESULTS, DEAD_LETTERS, STATE, LABELS)


@dataclass(frozen=True, slots=True)
class OutgoingMessage:
    """``value`` None deletes ``key`` from a compacted topic; ``partition`` None leaves the
    partition to the key."""

    key: str | None
    value: bytes | None
    headers: Mapping[str, str] = field(default_factory=dict)
    partition: int | None = None


@dataclass(frozen=True, slots=True)
class Message:
    """A consumed message; ``timestamp`` is when the bus accepted it (epoch seconds)."""

    topic: str
    partition: int
    offset: int
    key: str | None
    value: bytes
    headers: Mapping[str, str] = field(default_factory=dict)
    timestamp: float | None = None


@dataclass(frozen=True, slots=True)
class AssignedPartition:
    """A partition a consumer now owns, and the offset it resumes from (committed, or 0)."""

    topic: str
    partition: int
    resume_at: int


# Told the newly owned partitions; returns where to resume those that should not resume
# at their committed offset (a state store that already holds what came after it).
AssignmentListener = Callable[[Sequence[AssignedPartition]], Sequence[AssignedPartition]]


class Serializer(Protocol):
    """The wire format of the pipeline's messages."""

    def dumps(self, data: Mapping[str, Any]) -> bytes: ...

    def loads(self, data: bytes) -> Any:
        """The decoded value; a ``ValueError`` saying what is wrong when it cannot be."""


class MessageConsumer(Protocol):
    def on_assigned(self, listener: AssignmentListener) -> None:
        """Have ``listener`` called with newly owned partitions, before their first message."""

    def poll_batch(self, max_messages: int, timeout: float) -> list[Message]:
        """Up to ``max_messages`` messages, waiting at most ``timeout`` seconds for the first."""

    def commit(self) -> None:
        """Mark everything polled so far as done; the uncommitted is redelivered after a restart."""

    def close(self) -> None: ...


class MessageBus(Protocol):
    def publish(self, topic: str, messages: Sequence[OutgoingMessage]) -> None:
        """Returns once every message is durable; raises TransientFailure otherwise."""

    def consumer(self, group: str, topics: Sequence[str]) -> MessageConsumer: ...

    def lag(self, group: str, topic: str) -> int:
        """Messages on ``topic`` that ``group`` has not committed yet."""

    def size(self, topic: str) -> int:
        """Messages ``topic`` holds now (retention may have dropped older ones)."""

    def read_back(
        self, topic: str, partition: int, *, since: datetime, until_offset: int
    ) -> Iterator[Message]:
        """The partition's messages accepted since ``since``, up to (excluding) ``until_offset``.

        How a worker rebuilds per-partition state from the log when it takes a
        partition over.
        """

    def read_partition(self, topic: str, partition: int) -> Iterator[Message]:
        """Everything the partition holds now, oldest first: how a state store is read
        back. On a compacted topic that is the latest message of each key, and maybe
        some older ones the broker has not compacted yet."""

    def reachable(self) -> bool:
        """Whether the bus answers now; asked by health checks, so it answers within a second."""

    def read_topic(self, topic: str, limit: int | None = None) -> list[Message]:
        """What ``topic`` holds now, oldest first, at most ``limit`` messages (the dead letters
        an operator inspects and replays)."""
