"""Analyst feedback: label a transaction, and export the labelled ones for training."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from fraud.application.busy import retried_when_busy
from fraud.application.identity import labelled
from fraud.application.stream.envelopes import Envelopes
from fraud.domain.assessment import AnalystLabel, TransactionRecord
from fraud.domain.identity import Actor
from fraud.domain.label_risk import KnownLabel, LabelEvent
from fraud.domain.model import LabelledTransaction
from fraud.domain.ports import (
    Clock,
    LabelledFiles,
    MessageBus,
    Progress,
    Topic,
    UnitOfWork,
    UnitOfWorkFactory,
    VerdictQueries,
)
from fraud.domain.transaction import Transaction
from fraud.domain.webhooks import label_created_event

IMPORT_BATCH = 1_000


class LabelTransaction:
    """Record an analyst's verdict on a transaction, in its label history and in the audit
    log, hand it to the features as a label event, and tell webhook subscribers
    (``label.created``); the latest label is the transaction's."""

    def __init__(
        self,
        unit_of_work: UnitOfWorkFactory,
        queries: VerdictQueries,
        clock: Clock,
        bus: MessageBus,
        envelopes: Envelopes,
    ) -> None:
        self.unit_of_work = unit_of_work
        self.queries = queries
        self.clock = clock
        self.bus = bus
        self.envelopes = envelopes

    def __call__(self, transaction_id: str, is_fraud: bool, by: Actor) -> TransactionRecord | None:
        """The record with its label; None when the id is unknown."""
        record = self.queries.get(transaction_id)
        if record is None:
            return None
        label = AnalystLabel(is_fraud=is_fraud, analyst=by.subject, labelled_at=self.clock.now())
        self.publish([record], label)
        with self.unit_of_work() as uow:
            self.store(uow, [record], label, by)
            uow.commit()
        return self.queries.get(transaction_id)

    def publish(self, records: Sequence[TransactionRecord], label: AnalystLabel) -> None:
        """The label's events onto ``fraud-labels``, before it is stored (see
        :func:`publish_labels`)."""
        events = [
            LabelEvent.of(record.transaction, label.is_fraud, label.labelled_at)
            for record in records
        ]
        publish_labels(self.bus, self.envelopes, events)

    def store(
        self, uow: UnitOfWork, records: Sequence[TransactionRecord], label: AnalystLabel, by: Actor
    ) -> None:
        """The label on each record, its audit line and its webhook events, in ``uow`` (a
        case's disposition stores it with the case)."""
        ids = [record.transaction.transaction_id for record in records]
        uow.labels.set_labels(dict.fromkeys(ids, label))
        uow.audit.append([labelled(by, ids, label.is_fraud, label.labelled_at)])
        uow.webhooks.enqueue(
            [label_created_event(record.transaction, label) for record in records],
            label.labelled_at,
        )


def publish_labels(bus: MessageBus, envelopes: Envelopes, events: Sequence[LabelEvent]) -> None:
    """Label events onto ``fraud-labels`` before the labels are stored: a failure stores
    nothing (the caller is told to try again); a failure after it leaves events that the
    retry publishes again, which changes no feature (a verdict known twice is one verdict)."""
    bus.publish(Topic.LABELS, [envelopes.label_message(event) for event in events])


@dataclass(frozen=True, slots=True)
class ImportedLabels:
    imported: int
    frauds: int
    unknown: list[str]  # ids no stored transaction has


class ImportLabels:
    """Labels from outside (chargebacks, a case system's export), each as known at its own
    ``labelled_at``: stored in the label history and the audit log, and published as label
    events in the order they became known."""

    def __init__(
        self,
        unit_of_work: UnitOfWorkFactory,
        clock: Clock,
        bus: MessageBus,
        envelopes: Envelopes,
    ) -> None:
        self.unit_of_work = unit_of_work
        self.clock = clock
        self.bus = bus
        self.envelopes = envelopes

    def __call__(
        self, labels: Sequence[KnownLabel], by: Actor, progress: Progress | None = None
    ) -> ImportedLabels:
        unknown: list[str] = []
        imported = frauds = 0
        ordered = sorted(labels, key=lambda label: label.labelled_at)
        for start in range(0, len(ordered), IMPORT_BATCH):
            chunk = ordered[start : start + IMPORT_BATCH]
            with self.unit_of_work() as uow:
                stored = uow.verdicts.get_many({label.transaction_id for label in chunk})
            known: list[tuple[KnownLabel, Transaction]] = []
            for label in chunk:
                record = stored.get(label.transaction_id)
                if record is None:
                    unknown.append(label.transaction_id)
                else:
                    known.append((label, record.transaction))
            events = [LabelEvent.of(txn, label.is_fraud, label.labelled_at) for label, txn in known]
            publish_labels(self.bus, self.envelopes, events)
            self._store(known, by)
            imported += len(known)
            frauds += sum(label.is_fraud for label, _ in known)
            if progress is not None:
                progress(len(chunk))
        return ImportedLabels(imported, frauds, unknown)

    @retried_when_busy
    def _store(self, known: Sequence[tuple[KnownLabel, Transaction]], by: Actor) -> None:
        """In the order they became known; a transaction labelled twice gets both, in turn;
        each told to webhook subscribers (``label.created``)."""
        labels = [label for label, _ in known]
        rounds: list[dict[str, AnalystLabel]] = [{}]
        told = []
        for label, transaction in known:
            if label.transaction_id in rounds[-1]:
                rounds.append({})
            given = AnalystLabel(label.is_fraud, by.subject, label.labelled_at)
            rounds[-1][label.transaction_id] = given
            told.append(label_created_event(transaction, given))
        with self.unit_of_work() as uow:
            for labelled_now in rounds:
                uow.labels.set_labels(labelled_now)
            uow.webhooks.enqueue(told, self.clock.now())
            now = self.clock.now()
            uow.audit.append(
                [
                    labelled(by, ids, verdict, now)
                    for verdict in (True, False)
                    if (ids := [one.transaction_id for one in labels if one.is_fraud is verdict])
                ]
            )
            uow.commit()


@dataclass(frozen=True, slots=True)
class ExportedLabels:
    written: int
    frauds: int


class ExportLabels:
    """Every labelled transaction with the analyst's verdict and when it was given, oldest
    label first, as a training file."""

    def __init__(self, queries: VerdictQueries, files: LabelledFiles) -> None:
        self.queries = queries
        self.files = files

    def __call__(self, out: Path) -> ExportedLabels:
        rows = [
            LabelledTransaction(record.transaction, record.label.is_fraud, record.label.labelled_at)
            for record in self.queries.labelled()
            if record.label is not None
        ]
        written = self.files.write_labelled(out, rows)
        return ExportedLabels(written, sum(row.is_fraud for row in rows))
