"""What the commands around the pipeline need: the schema, the topics, labelled files,
simulated data and the evaluation's charts.

None of it is on the path of a transaction; it is here so that the command line
reaches every technology through a port the container fills, like the pipeline.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Protocol

from fraud.domain.assessment import Assessment
from fraud.domain.errors import BadDataFile
from fraud.domain.label_risk import KnownLabel
from fraud.domain.model import LabelledTransaction
from fraud.domain.policy import Thresholds
from fraud.domain.transaction import Transaction

Progress = Callable[[int], None]
"""Told how many more items of a long task are done (a progress bar, a log line)."""


class SchemaMigrator(Protocol):
    def upgrade(self, revision: str = "head") -> None:
        """Migrate the store's schema to ``revision``, creating the store if needed."""

    def revisions(self) -> list[str]:
        """Every revision this code knows, the oldest first (the last one is head)."""


@dataclass(frozen=True, slots=True)
class TopicOutcome:
    topic: str
    created: bool
    detail: str


class TopicAdmin(Protocol):
    def create_topics(
        self,
        *,
        partitions: int,
        replication: int,
        retention_ms: int | None = None,
        topics: Sequence[str] | None = None,
    ) -> list[TopicOutcome]:
        """Create the pipeline's topics (all of them unless named); an existing one is kept."""

    def missing_topics(self) -> list[str] | None:
        """The pipeline's topics the cluster lacks; None when it cannot say now (unreachable)."""


class LabelledFiles(Protocol):
    """Files of transactions, labelled or not. A file with invalid rows raises
    :class:`~fraud.domain.errors.BadDataFile` saying how many and naming the first few
    (line, field, rule); given a ``skipped`` list, the reader leaves them out and lists
    them there instead."""

    def read_labelled(
        self, path: Path, *, skipped: list[BadDataFile] | None = None
    ) -> list[LabelledTransaction]: ...

    def read_transactions(
        self, path: Path, *, skipped: list[BadDataFile] | None = None
    ) -> list[Transaction]: ...

    def read_labels(
        self, path: Path, *, skipped: list[BadDataFile] | None = None
    ) -> list[KnownLabel]:
        """A label file: ``transaction_id,is_fraud,labelled_at``."""

    def write_labelled(self, path: Path, rows: Iterable[LabelledTransaction]) -> int:
        """Write ``rows``; returns how many."""

    def write_verdicts(self, path: Path, verdicts: Iterable[Assessment]) -> int:
        """Write each verdict's transaction id, score, decision and reasons; returns how
        many."""


class Simulator(Protocol):
    def simulate(
        self,
        samples: int,
        *,
        seed: int,
        fraud_rate: float,
        progress: Progress | None = None,
        start: datetime | None = None,
    ) -> list[LabelledTransaction]:
        """``samples`` labelled synthetic transactions, in time order, from ``start`` (the
        simulator's own default date when None)."""


class EvaluationCharts(Protocol):
    def precision_recall(
        self, labels: Sequence[bool], scores: Sequence[float], path: Path, *, title: str
    ) -> Path: ...

    def score_histogram(
        self,
        labels: Sequence[bool],
        scores: Sequence[float],
        path: Path,
        *,
        thresholds: Thresholds,
        title: str,
    ) -> Path: ...
