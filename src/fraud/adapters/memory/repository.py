"""An in-memory store honouring the write side's and the read side's contracts.

Changes are staged in the unit of work and applied only on commit, to the rows
as they are then, like a database transaction, so use cases behave the same
here as on SQLAlchemy. Reads outside a unit of work see what is committed.
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
from fraud.domain.monitoring import FLAGGED, Bucket

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


class _Staged:
    """A unit of work's view of the rows, and the writes to apply to the shared rows on commit."""

    def __init__(self, rows: Rows, activity: Sequence[tuple[datetime, Bucket]]) -> None:
        self.rows = rows
        self.activity = activity
        self.writes: list[Write] = []
        self.logged: list[tuple[datetime, Bucket]] = []
        self.pruned_before: datetime | None = None

    def write(self, write: Write) -> object:
        self.writes.append(write)
        return write(self.rows)

    def clear(self) -> None:
        """Forget the pending writes: applied, or rolled back."""
        self.writes.clear()
        self.logged.clear()
        self.pruned_before = None


class InMemoryVerdictRepository:
    def __init__(self, staged: _Staged) -> None:
        self._staged = staged

    def get_many(self, transaction_ids: Collection[str]) -> dict[str, TransactionRecord]:
        rows = self._staged.rows
        return {i: rows[i] for i in transaction_ids if i in rows}

    def add_pending(self, records: Sequence[TransactionRecord]) -> None:
        self._staged.write(partial(_add_pending, records=list(records)))

    def save_verdicts(self, records: Sequence[TransactionRecord]) -> None:
        self._staged.write(partial(_save_verdicts, records=list(records)))

    def mark_failed(self, failures: Mapping[str, str]) -> None:
        self._staged.write(partial(_mark_failed, failures=dict(failures)))

    def pending(self, limit: int) -> list[TransactionRecord]:
        waiting = [r for r in self._staged.rows.values() if r.status is Status.PENDING]
        waiting.sort(key=lambda r: (r.received_at, r.transaction.transaction_id))
        return waiting[: max(limit, 0)]


class InMemoryLabelRepository:
    def __init__(self, staged: _Staged) -> None:
        self._staged = staged

    def set_labels(self, labels: Mapping[str, AnalystLabel]) -> set[str]:
        labelled = self._staged.write(partial(_set_labels, labels=dict(labels)))
        assert isinstance(labelled, set)
        return labelled


class InMemoryActivityLog:
    def __init__(self, staged: _Staged) -> None:
        self._staged = staged

    def log(self, tallies: Mapping[datetime, Bucket]) -> None:
        self._staged.logged.extend(tallies.items())

    def prune(self, before: datetime) -> int:
        staged = self._staged
        staged.pruned_before = max(staged.pruned_before or before, before)
        return sum(1 for second, _ in staged.activity if second < before)


class InMemoryUnitOfWork:
    """Reads a snapshot taken on entry; writes are applied to the shared rows on commit only."""

    def __init__(self, store: InMemoryStore) -> None:
        self._store = store
        self._staged: _Staged | None = None
        self.committed = False

    def __enter__(self) -> Self:
        with self._store.lock:
            snapshot = dict(self._store.rows)
            activity = list(self._store.activity)
        self._staged = staged = _Staged(ChainMap({}, snapshot), activity)
        self.verdicts = InMemoryVerdictRepository(staged)
        self.labels = InMemoryLabelRepository(staged)
        self.activity = InMemoryActivityLog(staged)
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if self._staged is not None:
            self._staged.clear()  # what was not committed is rolled back
            self._staged = None

    def commit(self) -> None:
        staged = self._staged
        if staged is None:
            raise RuntimeError("commit() outside the unit of work's with-block")
        with self._store.lock:
            self._store.apply(staged)
        staged.clear()  # later writes in the block are a new transaction
        self.committed = True


class InMemoryStore:
    """The shared rows: call it to open a unit of work (it is a ``UnitOfWorkFactory``); its
    methods are the read side (``VerdictQueries`` and ``ActivityQueries``)."""

    def __init__(self) -> None:
        self.rows: dict[str, TransactionRecord] = {}
        self.activity: list[tuple[datetime, Bucket]] = []
        self.lock = threading.Lock()

    def __call__(self) -> InMemoryUnitOfWork:
        return InMemoryUnitOfWork(self)

    def apply(self, staged: _Staged) -> None:
        """Apply a unit of work's writes to the rows as they are now (the caller holds the lock)."""
        for write in staged.writes:
            write(self.rows)
        if staged.pruned_before is not None:
            cutoff = staged.pruned_before
            self.activity = [tally for tally in self.activity if tally[0] >= cutoff]
        self.activity.extend(staged.logged)

    # --- the read side -------------------------------------------------------------

    def get(self, transaction_id: str) -> TransactionRecord | None:
        with self.lock:
            return self.rows.get(transaction_id)

    def recent(
        self, limit: int, decisions: Collection[Decision] | None = None
    ) -> list[TransactionRecord]:
        rows = [
            record
            for record in self._committed()
            if decisions is None
            or (record.assessment is not None and record.assessment.decision in decisions)
        ]
        rows.sort(
            key=lambda record: (record.received_at, record.transaction.transaction_id),
            reverse=True,
        )
        return rows[: max(limit, 0)]

    def status_counts(self) -> dict[str, int]:
        counts = {"pending": 0, "failed": 0, **{d.value: 0 for d in Decision}}
        for record in self._committed():
            if record.assessment is not None:
                counts[record.assessment.decision.value] += 1
            else:
                counts[record.status.value] += 1
        return counts

    def label_precision(self, since: datetime) -> dict[str, dict[str, int]]:
        figures = {d.value: {"confirmed": 0, "cleared": 0, "unlabelled": 0} for d in FLAGGED}
        for record in self._committed():
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

    def labelled(self, limit: int | None = None) -> list[TransactionRecord]:
        rows = [record for record in self._committed() if record.label is not None]
        rows.sort(
            key=lambda r: (
                r.label.labelled_at if r.label else r.received_at,
                r.transaction.transaction_id,
            )
        )
        return rows if limit is None else rows[: max(limit, 0)]

    def activity_since(self, since: datetime) -> list[tuple[datetime, Bucket]]:
        with self.lock:
            return [(second, bucket) for second, bucket in self.activity if second >= since]

    def _committed(self) -> list[TransactionRecord]:
        with self.lock:
            return list(self.rows.values())
