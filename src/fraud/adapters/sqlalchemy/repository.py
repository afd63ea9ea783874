"""The write side's repositories on SQLAlchemy Core: verdicts, labels, the activity log.

Each works on a connection (or session) the unit of work gives it and never
commits: the unit of work owns the transaction, so a use case's writes land
together or not at all. Every write is one statement per batch.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping, Sequence
from datetime import UTC, datetime

from sqlalchemy import bindparam, delete, insert, select, update
from sqlalchemy.engine import Connection, RowMapping
from sqlalchemy.orm import Session
from sqlalchemy.sql import Executable

from fraud.adapters.sqlalchemy.errors import transient_errors_translated
from fraud.adapters.sqlalchemy.rows import activity_row, label_columns, to_record, to_row
from fraud.adapters.sqlalchemy.tables import LABEL_COLUMNS, transactions, verdict_activity
from fraud.adapters.sqlalchemy.upserts import chunks, insert_missing, insert_or_replace
from fraud.domain.assessment import AnalystLabel, Status, TransactionRecord
from fraud.domain.monitoring import Bucket

Executor = Connection | Session

_MARK_FAILED = (
    update(transactions)
    .where(
        transactions.c.transaction_id == bindparam("failed_id"),
        transactions.c.status != Status.SCORED.value,
    )
    .values(status=Status.FAILED.value, error=bindparam("failed_reason"))
)

_SET_LABEL = (
    update(transactions)
    .where(transactions.c.transaction_id == bindparam("labelled_id"))
    .values(
        label_is_fraud=bindparam("new_is_fraud"),
        label_analyst=bindparam("new_analyst"),
        labelled_at=bindparam("new_labelled_at"),
        updated_at=bindparam("new_updated_at"),
    )
)


class SqlVerdictRepository:
    """Verdicts in the ``transactions`` table, written on the caller's transaction."""

    def __init__(self, executor: Executor) -> None:
        self._executor = executor

    def get_many(self, transaction_ids: Collection[str]) -> dict[str, TransactionRecord]:
        found: dict[str, TransactionRecord] = {}
        for ids in chunks(list(dict.fromkeys(transaction_ids))):
            statement = select(transactions).where(transactions.c.transaction_id.in_(ids))
            for row in fetch(self._executor, statement):
                found[row["transaction_id"]] = to_record(row)
        return found

    def add_pending(self, records: Sequence[TransactionRecord]) -> None:
        first_per_id: dict[str, TransactionRecord] = {}
        for record in records:
            first_per_id.setdefault(record.transaction.transaction_id, record)
        now = _now()
        rows = [to_row(record, now) for record in first_per_id.values()]
        with transient_errors_translated():
            insert_missing(self._executor, transactions, rows, dialect_of(self._executor))

    def save_verdicts(self, records: Sequence[TransactionRecord]) -> None:
        # One row per id: PostgreSQL refuses to upsert the same key twice in a statement.
        last_per_id = {record.transaction.transaction_id: record for record in records}
        now = _now()
        rows = [to_row(record, now) for record in last_per_id.values()]
        with transient_errors_translated():
            insert_or_replace(
                self._executor,
                transactions,
                rows,
                dialect_of(self._executor),
                keep=LABEL_COLUMNS,
            )

    def mark_failed(self, failures: Mapping[str, str]) -> None:
        if not failures:
            return
        statement = _MARK_FAILED.values(updated_at=_now())
        parameters = [
            {"failed_id": transaction_id, "failed_reason": reason}
            for transaction_id, reason in failures.items()
        ]
        with transient_errors_translated():
            self._executor.execute(statement, parameters)

    def pending(self, limit: int) -> list[TransactionRecord]:
        statement = (
            select(transactions)
            .where(transactions.c.status == Status.PENDING.value)
            .order_by(transactions.c.received_at, transactions.c.transaction_id)
            .limit(max(limit, 0))
        )
        return [to_record(row) for row in fetch(self._executor, statement)]


class SqlLabelRepository:
    """Analysts' labels, columns of the ``transactions`` table that a verdict never touches."""

    def __init__(self, executor: Executor) -> None:
        self._executor = executor

    def set_labels(self, labels: Mapping[str, AnalystLabel]) -> set[str]:
        if not labels:
            return set()
        key = transactions.c.transaction_id
        found: set[str] = set()
        for ids in chunks(list(labels)):
            with transient_errors_translated():
                found.update(self._executor.execute(select(key).where(key.in_(ids))).scalars())
        if not found:
            return found
        now = _now()
        parameters = []
        for transaction_id in sorted(found):
            columns = label_columns(labels[transaction_id])
            parameters.append(
                {
                    "labelled_id": transaction_id,
                    "new_is_fraud": columns["label_is_fraud"],
                    "new_analyst": columns["label_analyst"],
                    "new_labelled_at": columns["labelled_at"],
                    "new_updated_at": now,
                }
            )
        with transient_errors_translated():
            self._executor.execute(_SET_LABEL, parameters)
        return found


class SqlActivityLog:
    """Per-second verdict tallies in ``verdict_activity``, appended with each recorded batch."""

    def __init__(self, executor: Executor) -> None:
        self._executor = executor

    def log(self, tallies: Mapping[datetime, Bucket]) -> None:
        if not tallies:
            return
        rows = [activity_row(second, bucket) for second, bucket in tallies.items()]
        with transient_errors_translated():
            self._executor.execute(insert(verdict_activity), rows)

    def prune(self, before: datetime) -> int:
        statement = delete(verdict_activity).where(verdict_activity.c.second < before)
        with transient_errors_translated():
            return self._executor.execute(statement).rowcount or 0  # type: ignore[attr-defined]


def fetch(executor: Executor, statement: Executable) -> list[RowMapping]:
    with transient_errors_translated():
        return list(executor.execute(statement).mappings())


def dialect_of(executor: Executor) -> str:
    if isinstance(executor, Session):
        return executor.get_bind().dialect.name
    return executor.dialect.name


def _now() -> datetime:
    """When a row was last written: bookkeeping for operators, not a business fact."""
    return datetime.now(UTC)
