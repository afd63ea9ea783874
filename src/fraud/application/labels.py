"""Analyst feedback: label a transaction, and export the labelled ones for training."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from fraud.application.identity import labelled
from fraud.domain.assessment import AnalystLabel, TransactionRecord
from fraud.domain.identity import Actor
from fraud.domain.model import LabelledTransaction
from fraud.domain.ports import Clock, LabelledFiles, UnitOfWorkFactory, VerdictQueries


class LabelTransaction:
    """Record an analyst's verdict on a transaction, in its label history and in the audit
    log; the latest label is the transaction's."""

    def __init__(
        self, unit_of_work: UnitOfWorkFactory, queries: VerdictQueries, clock: Clock
    ) -> None:
        self.unit_of_work = unit_of_work
        self.queries = queries
        self.clock = clock

    def __call__(self, transaction_id: str, is_fraud: bool, by: Actor) -> TransactionRecord | None:
        """The record with its label; None when the id is unknown."""
        now = self.clock.now()
        label = AnalystLabel(is_fraud=is_fraud, analyst=by.subject, labelled_at=now)
        with self.unit_of_work() as uow:
            if transaction_id not in uow.labels.set_labels({transaction_id: label}):
                return None
            uow.audit.append([labelled(by, [transaction_id], is_fraud, now)])
            uow.commit()
        return self.queries.get(transaction_id)


@dataclass(frozen=True, slots=True)
class ExportedLabels:
    written: int
    frauds: int


class ExportLabels:
    """Every labelled transaction with the analyst's verdict, oldest label first, as a
    training file."""

    def __init__(self, queries: VerdictQueries, files: LabelledFiles) -> None:
        self.queries = queries
        self.files = files

    def __call__(self, out: Path) -> ExportedLabels:
        rows = [
            LabelledTransaction(record.transaction, record.label.is_fraud)
            for record in self.queries.labelled()
            if record.label is not None
        ]
        written = self.files.write_labelled(out, rows)
        return ExportedLabels(written, sum(row.is_fraud for row in rows))
