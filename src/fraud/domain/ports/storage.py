"""Where verdicts are kept: a write side for the pipeline and the analysts, and a read side.

The write side is a unit of work holding small repositories, rolled back unless
the use case commits. The read side answers the API's and the dashboard's
questions straight from the store, outside any unit of work: a read changes
nothing, so it needs no transaction of its own (cosmicpython keeps its
``views.py`` apart from the repository for the same reason).
"""

from __future__ import annotations

from collections.abc import Collection, Mapping, Sequence
from datetime import datetime
from types import TracebackType
from typing import Protocol, Self

from fraud.domain.assessment import AnalystLabel, Decision, TransactionRecord
from fraud.domain.monitoring import Bucket

# --- the write side ------------------------------------------------------------------


class VerdictRepository(Protocol):
    """The pipeline's writes: pending records, verdicts, failures."""

    def get_many(self, transaction_ids: Collection[str]) -> dict[str, TransactionRecord]:
        """The stored records among these ids (what a resubmission is checked against)."""

    def add_pending(self, records: Sequence[TransactionRecord]) -> None:
        """Insert records not stored yet; an existing record is left as it is."""

    def save_verdicts(self, records: Sequence[TransactionRecord]) -> None:
        """Insert or replace by transaction_id: a replay never creates a second record.
        Saving a verdict never erases an analyst's label."""

    def mark_failed(self, failures: Mapping[str, str]) -> None:
        """Mark stored, not yet scored transactions as failed, with the reason for each id."""

    def pending(self, limit: int) -> list[TransactionRecord]:
        """Accepted transactions still waiting for a verdict, oldest first."""


class LabelRepository(Protocol):
    """Analysts' verdicts on transactions."""

    def set_labels(self, labels: Mapping[str, AnalystLabel]) -> set[str]:
        """Record labels by transaction_id (a relabel overwrites); returns the ids that exist
        and were labelled."""


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

    def get(self, transaction_id: str) -> TransactionRecord | None: ...

    def recent(
        self, limit: int, decisions: Collection[Decision] | None = None
    ) -> list[TransactionRecord]:
        """The latest received records, newest first (ties: highest transaction_id first),
        optionally only some decisions."""

    def status_counts(self) -> dict[str, int]:
        """How many records per decision, plus ``pending`` and ``failed``."""

    def label_precision(self, since: datetime) -> dict[str, dict[str, int]]:
        """For ``review`` and ``decline`` records received since ``since``: how many
        analysts ``confirmed`` as fraud, ``cleared`` as not fraud, and left ``unlabelled``."""

    def labelled(self, limit: int | None = None) -> list[TransactionRecord]:
        """Records an analyst has labelled, oldest label first (ties: transaction_id)."""


class ActivityQueries(Protocol):
    """What the dashboard's live window reads of the activity log."""

    def activity_since(self, since: datetime) -> list[tuple[datetime, Bucket]]:
        """The tallies logged for seconds at or after ``since``, several per second maybe."""
