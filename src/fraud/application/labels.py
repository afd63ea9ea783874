"""Analyst feedback: label a transaction, and export the labelled ones for training."""

from __future__ import annotations

from fraud.domain.assessment import AnalystLabel, TransactionRecord
from fraud.domain.model import LabelledTransaction
from fraud.domain.ports import Clock, UnitOfWorkFactory


def label_transaction(
    unit_of_work: UnitOfWorkFactory,
    clock: Clock,
    transaction_id: str,
    is_fraud: bool,
    analyst: str,
) -> TransactionRecord | None:
    """Record the analyst's verdict (a relabel overwrites); None when the id is unknown."""
    label = AnalystLabel(is_fraud=is_fraud, analyst=analyst, labelled_at=clock.now())
    with unit_of_work() as uow:
        if transaction_id not in uow.verdicts.set_labels({transaction_id: label}):
            return None
        record = uow.verdicts.get(transaction_id)
        uow.commit()
    return record


def export_labelled(unit_of_work: UnitOfWorkFactory) -> list[LabelledTransaction]:
    """Every labelled transaction with the analyst's verdict, oldest label first."""
    with unit_of_work() as uow:
        records = uow.verdicts.labelled()
    return [
        LabelledTransaction(record.transaction, record.label.is_fraud)
        for record in records
        if record.label is not None
    ]
