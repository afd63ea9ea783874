"""Where verdicts are kept: a write side for the pipeline and the analysts, and a read side.

The write side is a unit of work holding small repositories, rolled back unless
the use case commits. The read side answers the API's and the dashboard's
questions straight from the store, outside any unit of work: a read changes
nothing, so it needs no transaction of its own (cosmicpython keeps its
``views.py`` apart from the repository for the same reason).
"""

from __future__ import annotations

from collections.abc import Collection, Iterator, Mapping, Sequence
from datetime import datetime
from types import TracebackType
from typing import Protocol, Self

from fraud.domain.assessment import AnalystLabel, Decision, TransactionRecord
from fraud.domain.challenge import Scored
from fraud.domain.label_risk import LabelEvent
from fraud.domain.monitoring import Bucket
from fraud.domain.ports.cases import CaseRepository, QueueRepository
from fraud.domain.ports.drift import DriftLog
from fraud.domain.ports.identity import AuditLog, Identities
from fraud.domain.ports.lists import ListRepository
from fraud.domain.ports.models import ModelRegistry
from fraud.domain.ports.rules import RuleRepository, RuleTallies
from fraud.domain.ports.webhooks import WebhookRepository
from fraud.domain.transaction import Transaction

# --- the write side ------------------------------------------------------------------


class VerdictRepository(Protocol):
    """The pipeline's writes: claims on transaction ids, decisions, failures."""

    def get_many(self, transaction_ids: Collection[str]) -> dict[str, TransactionRecord]:
        """The stored records among these ids (what a resubmission is checked against)."""

    def claim(self, records: Sequence[TransactionRecord]) -> set[str]:
        """Store each record whose id is not stored yet, as pending and not yet published;
        returns the ids this call stored. Of concurrent claims on one id, exactly one wins."""

    def unpublished(self, limit: int, claimed_before: datetime) -> list[TransactionRecord]:
        """Claimed records not yet published, received at or before ``claimed_before``,
        oldest first: what an outbox relay publishes."""

    def mark_published(self, transaction_ids: Collection[str], at: datetime) -> None:
        """These claims' messages are durable on the bus."""

    def republish_pending(self) -> int:
        """Mark every pending record unpublished again (the bus that held its message is
        gone: the embedded one, after a restart); returns how many."""

    def decide(self, records: Sequence[TransactionRecord]) -> set[str]:
        """Record scored records: the first verdict of a transaction is its decision and is
        never replaced; a later one from another model or with another score is kept as a
        version beside it, the same scoring again (see ``scoring``) is ignored. A label is
        never touched. Returns the ids decided now."""

    def mark_failed(self, failures: Mapping[str, str]) -> None:
        """Mark stored, not yet scored transactions as failed, with the reason for each id."""


class LabelRepository(Protocol):
    """Analysts' verdicts on transactions."""

    def set_labels(self, labels: Mapping[str, AnalystLabel]) -> set[str]:
        """Record labels by transaction_id; returns the ids that exist and were labelled.
        The latest label is the transaction's; every label stays in its history."""


class DeadLetterReplays(Protocol):
    """Which dead letters were sent back to their source, so a replay is done once."""

    def replayed(self, letters: Collection[str]) -> set[str]:
        """Those of these letters (keyed by source position and stage) already replayed."""

    def mark_replayed(self, letters: Collection[str], at: datetime) -> None: ...


class ActivityLog(Protocol):
    """Per-second tallies of recorded verdicts: the dashboard's live figures, as a rollup."""

    def log(self, tallies: Mapping[datetime, Bucket]) -> None:
        """Log the tallies of the verdicts being recorded.

        At-least-once delivery means a replayed batch is tallied again: the live
        figures may count a redelivered verdict twice, the verdicts never do."""

    def prune(self, before: datetime) -> int:
        """Forget the tallies of seconds before ``before``; returns how many went."""


class UnitOfWork(Protocol):
    """A transaction on the store: rolled back unless the use case commits."""

    verdicts: VerdictRepository
    labels: LabelRepository
    activity: ActivityLog
    replays: DeadLetterReplays
    identities: Identities
    audit: AuditLog
    rules: RuleRepository
    rule_tallies: RuleTallies
    models: ModelRegistry
    drift: DriftLog
    cases: CaseRepository
    queues: QueueRepository
    lists: ListRepository
    webhooks: WebhookRepository

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


# --- the read side -------------------------------------------------------------------


class VerdictQueries(Protocol):
    """What the API and the dashboard read about transactions."""

    def get(self, transaction_id: str) -> TransactionRecord | None:
        """The record with its versions and its label history."""

    def recent(
        self,
        limit: int,
        decisions: Collection[Decision] | None = None,
        user_id: str | None = None,
    ) -> list[TransactionRecord]:
        """The latest received records, newest first (ties: highest transaction_id first),
        optionally only some decisions, or one card's (``user_id``)."""

    def status_counts(self) -> dict[str, int]:
        """How many records per decision, plus ``pending`` and ``failed``."""

    def label_precision(self, since: datetime) -> dict[str, dict[str, int]]:
        """For ``review`` and ``decline`` records received since ``since``: how many
        analysts ``confirmed`` as fraud, ``cleared`` as not fraud, and left ``unlabelled``."""

    def labelled(self, limit: int | None = None) -> list[TransactionRecord]:
        """Records an analyst has labelled, oldest label first (ties: transaction_id)."""

    def scored_between(self, since: datetime, until: datetime) -> Iterator[TransactionRecord]:
        """Every scored record received from ``since`` to ``until`` (both included), with its
        features and label, in no promised order, read in chunks: what a backtest evaluates
        rules on."""

    def accepted_since(self, since: datetime) -> Iterator[Transaction]:
        """Every transaction dated at or after ``since`` that was not refused by a stage,
        oldest first, read in chunks: what the behaviour profiles are rebuilt from."""

    def scores_of(
        self, model_version: str, since: datetime
    ) -> list[tuple[float, bool | None, datetime]]:
        """Every score ``model_version`` gave to a transaction received since ``since``, as
        the decision or in shadow, each with the transaction's label (None: unknown) and
        when it was received."""

    def challenged(self, champion: str, challenger: str, since: datetime) -> list[Scored]:
        """Every transaction received since ``since`` that ``champion`` decided and
        ``challenger`` scored in shadow: both scores and decisions, and the label."""

    def merchant_counts(self, since: datetime, merchants: Collection[str]) -> dict[str, int]:
        """How many transactions each of ``merchants`` had, dated at or after ``since``."""

    def label_events(
        self, since: datetime, *, labelled_since: datetime | None = None
    ) -> list[LabelEvent]:
        """Every label given to a transaction dated at or after ``since`` (and, with
        ``labelled_since``, given at or after it), as the event the features learn from, in
        the order they were given."""


class ActivityQueries(Protocol):
    """What the dashboard's live window reads of the activity log."""

    def activity_since(self, since: datetime) -> list[tuple[datetime, Bucket]]:
        """The tallies logged for seconds at or after ``since``, several per second maybe."""
