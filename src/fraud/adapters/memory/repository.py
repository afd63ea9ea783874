"""An in-memory verdict store honouring the repository and unit-of-work contracts.

Changes are staged in the unit of work and applied only on commit, like a
database transaction, so use cases behave the same here as on SQLAlchemy.
"""

from __future__ import annotations

import threading
from collections import ChainMap
from collections.abc import Callable, Collection, Mapping, MutableMapping, Sequence
from dataclasses import replace
from datetime import datetime
from functools import partial
from types import TracebackType
from typing import Self

from fraud.domain.assessment import AnalystLabel, Decision, Status, TransactionRecord
from fraud.domain.monitoring import Bucket

FLAGGED = (Decision.REVIEW, Decision.DECLINE)


Rows = MutableMapping[str, TransactionRecord]
Write = Callable[[Rows], object]


def _add_pending(rows: Rows, records: Sequence[TransactionRecord]) -> None:
    for record in records:
        rows.setdefault(record.transaction.transaction_id, record)


def _save_verdicts(rows: Rows, records: Sequence[TransactionRecord]) -> None:
    for record in records:
        transaction_id = record.transaction.transaction_id
        stored = rows.get(transaction_id)
        if stored is not None:
            record = replace(record, label=stored.label)  # a verdict never erases a label
        rows[transaction_id] = record


def _mark_failed(rows: Rows, failures: Mapping[str, str]) -> None:
    for transaction_id, reason in failures.items():
        record = rows.get(transaction_id)
        if record is not None and record.status is not Status.SCORED:
            rows[transaction_id] = replace(record, status=Status.FAILED, error=reason)


def _set_labels(rows: Rows, labels: Mapping[str, AnalystLabel]) -> set[str]:
    labelled: set[str] = set()
    for transaction_id, label in labels.items():
        record = rows.get(transaction_id)
        if record is not None:
            rows[transaction_id] = replace(record, label=label)
            labelled.add(transaction_id)
    return labelled


class InMemoryVerdictRepository:
    """Reads and writes a unit of work's view; every write is also logged, so the commit
    can apply it to the shared rows as they are then, like a database would."""

    def __init__(self, rows: Rows, activity: Sequence[tuple[datetime, Bucket]] = ()) -> None:
        self._rows = rows
        self._activity = activity
        self.writes: list[Write] = []
        # The activity log's pending changes, applied on commit.
        self.logged: list[tuple[datetime, Bucket]] = []
        self.pruned_before: datetime | None = None

    def apply_to(self, store: InMemoryStore) -> None:
        """Apply the pending writes to the shared state (the caller holds its lock)."""
        for write in self.writes:
            write(store.rows)
        if self.pruned_before is not None:
            cutoff = self.pruned_before
            store.activity = [tally for tally in store.activity if tally[0] >= cutoff]
        store.activity.extend(self.logged)

    def discard(self) -> None:
        """Forget the pending writes: applied, or rolled back."""
        self.writes.clear()
        self.logged.clear()
        self.pruned_before = None

    def _write(self, write: Write) -> object:
        self.writes.append(write)
        return write(self._rows)

    def get(self, transaction_id: str) -> TransactionRecord | None:
        return self._rows.get(transaction_id)

    def get_many(self, transaction_ids: Collection[str]) -> dict[str, TransactionRecord]:
        return {i: self._rows[i] for i in transaction_ids if i in self._rows}

    def add_pending(self, records: Sequence[TransactionRecord]) -> None:
        self._write(partial(_add_pending, records=list(records)))

    def save_verdicts(self, records: Sequence[TransactionRecord]) -> None:
        self._write(partial(_save_verdicts, records=list(records)))

    def mark_failed(self, failures: Mapping[str, str]) -> None:
        self._write(partial(_mark_failed, failures=dict(failures)))

    def recent(
        self, limit: int, decisions: Collection[Decision] | None = None
    ) -> list[TransactionRecord]:
        rows = [
            record
            for record in self._rows.values()
            if decisions is None
            or (record.assessment is not None and record.assessment.decision in decisions)
        ]
        rows.sort(
            key=lambda record: (record.received_at, record.transaction.transaction_id),
            reverse=True,
        )
        return rows[:limit]

    def pending(self, limit: int) -> list[TransactionRecord]:
        waiting = [r for r in self._rows.values() if r.status is Status.PENDING]
        waiting.sort(key=lambda r: (r.received_at, r.transaction.transaction_id))
        return waiting[:limit]

    def status_counts(self) -> dict[str, int]:
        counts = {"pending": 0, "failed": 0, **{d.value: 0 for d in Decision}}
        for record in self._rows.values():
            if record.assessment is not None:
                counts[record.assessment.decision.value] += 1
            else:
                counts[record.status.value] += 1
        return counts

    def set_labels(self, labels: Mapping[str, AnalystLabel]) -> set[str]:
        labelled = self._write(partial(_set_labels, labels=dict(labels)))
        assert isinstance(labelled, set)
        return labelled

    def labelled(self, limit: int | None = None) -> list[TransactionRecord]:
        rows = [record for record in self._rows.values() if record.label is not None]
        rows.sort(
            key=lambda r: (
                r.label.labelled_at if r.label else r.received_at,
                r.transaction.transaction_id,
            )
        )
        return rows if limit is None else rows[: max(limit, 0)]

    def label_precision(self, since: datetime) -> dict[str, dict[str, int]]:
        figures = {d.value: {"confirmed": 0, "cleared": 0, "unlabelled": 0} for d in FLAGGED}
        for record in self._rows.values():
            assessment = record.assessment
            if assessment is None or assessment.decision not in FLAGGED:
                continue
            if record.received_at < since:
                continue
            if record.label is None:
                bucket = "unlabelled"
            else:
                bucket = "confirmed" if record.label.is_fraud else "cleared"
            figures[assessment.decision.value][bucket] += 1
        return figures

    def log_activity(self, tallies: Mapping[datetime, Bucket]) -> None:
        self.logged.extend(tallies.items())

    def activity_since(self, since: datetime) -> list[tuple[datetime, Bucket]]:
        return [(second, bucket) for second, bucket in self._activity if second >= since]

    def prune_activity(self, before: datetime) -> int:
        self.pruned_before = max(self.pruned_before or before, before)
        return sum(1 for second, _ in self._activity if second < before)


class InMemoryUnitOfWork:
    """Reads a snapshot taken on entry; writes are applied to the shared rows on commit only."""

    def __init__(self, store: InMemoryStore) -> None:
        self._store = store
        self.committed = False

    def __enter__(self) -> Self:
        with self._store.lock:
            snapshot = dict(self._store.rows)
            activity = list(self._store.activity)
        self.verdicts = InMemoryVerdictRepository(ChainMap({}, snapshot), activity)
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.verdicts.discard()  # what was not committed is rolled back

    def commit(self) -> None:
        with self._store.lock:
            self.verdicts.apply_to(self._store)
        self.verdicts.discard()
        self.committed = True


class InMemoryStore:
    """The shared rows; call it to open a unit of work (it is a ``UnitOfWorkFactory``)."""

    def __init__(self) -> None:
        self.rows: dict[str, TransactionRecord] = {}
        self.activity: list[tuple[datetime, Bucket]] = []
        self.lock = threading.Lock()

    def __call__(self) -> InMemoryUnitOfWork:
        return InMemoryUnitOfWork(self)
