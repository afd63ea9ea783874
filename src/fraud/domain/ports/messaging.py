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
    # Each merchant's transactions per day, counted per partition of `transactions`, and
    # how far each partition is counted: read whole by every preprocess worker, since a
    # merchant's transactions belong to many cards.
    MERCHANT_COUNTS = "merchant-counts"
    ALL = (TRANSACTIONS, PREPROCESSED, RESULTS, DEAD_LETTERS, STATE, LABELS, MERCHANT_COUNTS)


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

    def rewind(self, held: Sequence[Message]) -> None:
        """Hand ``held`` (messages polled but not handled yet) out again, each partition from
        its first held message, once :meth:`resume` is told; a commit stops before them."""

    def resume(self, partitions: set[tuple[str, int]]) -> None:
        """Hand out again what was held back in ``partitions`` (topic, partition)."""

    def idle_partitions(self) -> set[tuple[str, int]]:
        """The owned partitions (topic, partition) with nothing left to hand out, and nothing
        on its way: every message accepted so far was handed out."""

    def close(self) -> None: ...


class MessageFollower(Protocol):
    """Every partition of some topics, from their beginning, outside any consumer group:
    how each worker reads the state every worker needs."""

    def poll(self, max_messages: int, timeout: float = 0.0) -> list[Message]:
        """What has arrived, up to ``max_messages``, waiting at most ``timeout`` seconds for
        the first."""

    def read_to_end(self) -> Iterator[Message]:
        """From where the follower is to the end the topics have now."""

    def rewind(self) -> None:
        """Back to the beginning of every partition."""

    def skip_to_end(self) -> None:
        """Past everything the topics hold now: only what is published after this call is
        read (how a process follows what happens from now on)."""

    def close(self) -> None: ...


class MessageBus(Protocol):
    def publish(self, topic: str, messages: Sequence[OutgoingMessage]) -> None:
        """Returns once every message is durable; raises TransientFailure otherwise."""

    def publish_all(self, messages: Mapping[str, Sequence[OutgoingMessage]]) -> None:
        """Several topics' messages, in one wait for them all to be durable (a batch's
        outputs: one round trip to the broker, not one per topic); raises TransientFailure
        otherwise, and MessageRefused when the broker can never take one of them."""

    def consumer(self, group: str, topics: Sequence[str]) -> MessageConsumer: ...

    def follower(self, topics: Sequence[str]) -> MessageFollower: ...

    def partition_count(self, topic: str) -> int:
        """How many partitions ``topic`` has."""

    def lag(self, group: str, topic: str) -> int:
        """Messages on ``topic`` that ``group`` has not committed yet."""

    def known_groups(self) -> set[str]:
        """The consumer groups the bus has seen (joined or committed at least once): a
        deployment whose workers run every stage in one pass has no score or record group."""

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
