"""The ports: what the core needs from the outside world, named for the need.

Adapters implement these protocols; use cases receive them as arguments.
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from types import TracebackType
from typing import Any, Protocol, Self

from fraud.domain.assessment import AnalystLabel, Decision, TransactionRecord
from fraud.domain.features import FeatureVector
from fraud.domain.model import ModelInfo
from fraud.domain.monitoring import Bucket


class Topic:
    """The pipeline's topics; their names are the contract with other producers."""

    TRANSACTIONS = "transactions"
    PREPROCESSED = "preprocessed-transactions"
    RESULTS = "fraud-results"
    DEAD_LETTERS = "fraud-dlq"
    ALL = (TRANSACTIONS, PREPROCESSED, RESULTS, DEAD_LETTERS)


@dataclass(frozen=True, slots=True)
class OutgoingMessage:
    key: str | None
    value: bytes
    headers: Mapping[str, str] = field(default_factory=dict)


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


AssignmentListener = Callable[[Sequence[AssignedPartition]], None]


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


class VerdictRepository(Protocol):
    def get(self, transaction_id: str) -> TransactionRecord | None: ...

    def get_many(self, transaction_ids: Collection[str]) -> dict[str, TransactionRecord]: ...

    def add_pending(self, records: Sequence[TransactionRecord]) -> None:
        """Insert records not stored yet; an existing record is left as it is."""

    def save_verdicts(self, records: Sequence[TransactionRecord]) -> None:
        """Insert or replace by transaction_id: a replay never creates a second record."""

    def mark_failed(self, failures: Mapping[str, str]) -> None:
        """Mark stored, not yet scored transactions as failed, with the reason for each id."""

    def recent(
        self, limit: int, decisions: Collection[Decision] | None = None
    ) -> list[TransactionRecord]:
        """The latest received records, newest first (ties: highest transaction_id first),
        optionally only some decisions."""

    def pending(self, limit: int) -> list[TransactionRecord]:
        """Accepted transactions still waiting for a verdict, oldest first."""

    def status_counts(self) -> dict[str, int]:
        """How many records per decision, plus ``pending`` and ``failed``."""

    def set_labels(self, labels: Mapping[str, AnalystLabel]) -> set[str]:
        """Record analysts' labels by transaction_id (a relabel overwrites); returns the ids
        that exist and were labelled. Saving a verdict later never erases a label."""

    def labelled(self, limit: int | None = None) -> list[TransactionRecord]:
        """Records an analyst has labelled, oldest label first (ties: transaction_id)."""

    def label_precision(self, since: datetime) -> dict[str, dict[str, int]]:
        """For ``review`` and ``decline`` records received since ``since``: how many
        analysts ``confirmed`` as fraud, ``cleared`` as not fraud, and left ``unlabelled``."""

    def log_activity(self, tallies: Mapping[datetime, Bucket]) -> None:
        """Log per-second tallies of the verdicts being recorded (the dashboard's rollup).

        At-least-once delivery means a replayed batch is tallied again: the live
        figures may count a redelivered verdict twice, the verdicts never do."""

    def activity_since(self, since: datetime) -> list[tuple[datetime, Bucket]]:
        """The tallies logged for seconds at or after ``since``, several per second maybe."""

    def prune_activity(self, before: datetime) -> int:
        """Forget the tallies of seconds before ``before``; returns how many went."""


class UnitOfWork(Protocol):
    """A transaction on the verdict store: rolled back unless the use case commits."""

    verdicts: VerdictRepository

    def __enter__(self) -> Self: ...

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None: ...

    def commit(self) -> None: ...


class UnitOfWorkFactory(Protocol):
    def __call__(self) -> UnitOfWork: ...


class FraudModel(Protocol):
    @property
    def info(self) -> ModelInfo: ...

    def score(self, features: Sequence[FeatureVector]) -> list[float]:
        """Fraud probability (0..1) of each vector, in one call for the whole batch."""


class Clock(Protocol):
    def now(self) -> datetime:
        """The current instant, time-zone aware."""


class PipelineMetrics(Protocol):
    """What the core observes about its own work, reported once per batch, never per message."""

    def batch_handled(self, stage: str, messages: int, seconds: float) -> None:
        """A stage handled, published and committed a batch of ``messages``."""

    def dead_lettered(self, stage: str, count: int) -> None:
        """A stage sent ``count`` messages it could not handle to the dead-letter topic."""

    def transient_failure(self, stage: str) -> None:
        """A stage met a transient failure and will retry."""

    def transactions_accepted(self, count: int) -> None:
        """New transactions were accepted from clients and published."""

    def verdicts_recorded(
        self, decisions: Mapping[str, int], latencies_ms: Sequence[float]
    ) -> None:
        """Verdicts stored in one batch: how many per decision, and their end-to-end latencies."""


@dataclass(frozen=True, slots=True)
class TrainingData:
    """Feature vectors and their labels, in time order."""

    features: Sequence[FeatureVector]
    labels: Sequence[bool]


class Scorer(Protocol):
    def score(self, features: Sequence[FeatureVector]) -> list[float]: ...


class ModelTrainer(Protocol):
    def fit(self, train: TrainingData, validation: TrainingData, *, epochs: int) -> Scorer:
        """Train a new model, stopping early on the validation data's PR-AUC."""


class ModelStore(Protocol):
    """Where the model in use lives: saved with its card, loaded for serving."""

    def exists(self) -> bool: ...

    def save(self, scorer: Scorer, info: ModelInfo) -> None: ...

    def load(self) -> FraudModel: ...
