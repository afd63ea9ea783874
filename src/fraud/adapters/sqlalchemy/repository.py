"""The ``VerdictRepository`` port on SQLAlchemy Core.

It works on a connection (or session) it is given and never commits: the unit
of work owns the transaction, so a use case's writes land together or not at
all. Every write is one statement per batch.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping, Sequence
from datetime import UTC, datetime

from sqlalchemy import bindparam, delete, func, insert, select, update
from sqlalchemy.engine import Connection, RowMapping
from sqlalchemy.orm import Session
from sqlalchemy.sql import Executable

from fraud.adapters.sqlalchemy.errors import transient_errors_translated
from fraud.adapters.sqlalchemy.rows import label_columns, to_record, to_row
from fraud.adapters.sqlalchemy.tables import LABEL_COLUMNS, transactions, verdict_activity
from fraud.adapters.sqlalchemy.upserts import chunks, insert_missing, insert_or_replace
from fraud.domain.assessment import AnalystLabel, Decision, Status, TransactionRecord
from fraud.domain.monitoring import Bucket

_BY_NEWEST = (transactions.c.received_at.desc(), transactions.c.transaction_id.desc())

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

_FLAGGED = (Decision.REVIEW.value, Decision.DECLINE.value)
_BUCKETS = {None: "unlabelled", True: "confirmed", False: "cleared"}  # by label_is_fraud


class SqlVerdictRepository:
    """Verdicts in the ``transactions`` table, read and written on the caller's transaction."""

    def __init__(self, connection: Connection | Session) -> None:
        self._executor = connection

    def get(self, transaction_id: str) -> TransactionRecord | None:
        rows = self._fetch(
            select(transactions).where(transactions.c.transaction_id == transaction_id)
        )
        return to_record(rows[0]) if rows else None

    def get_many(self, transaction_ids: Collection[str]) -> dict[str, TransactionRecord]:
        found: dict[str, TransactionRecord] = {}
        for ids in chunks(list(dict.fromkeys(transaction_ids))):
            statement = select(transactions).where(transactions.c.transaction_id.in_(ids))
            for row in self._fetch(statement):
                found[row["transaction_id"]] = to_record(row)
        return found

    def add_pending(self, records: Sequence[TransactionRecord]) -> None:
        first_per_id: dict[str, TransactionRecord] = {}
        for record in records:
            first_per_id.setdefault(record.transaction.transaction_id, record)
        now = _now()
        rows = [to_row(record, now) for record in first_per_id.values()]
        with transient_errors_translated():
            insert_missing(self._executor, transactions, rows, self._dialect())

    def save_verdicts(self, records: Sequence[TransactionRecord]) -> None:
        # One row per id: PostgreSQL refuses to upsert the same key twice in a statement.
        last_per_id = {record.transaction.transaction_id: record for record in records}
        now = _now()
        rows = [to_row(record, now) for record in last_per_id.values()]
        with transient_errors_translated():
            insert_or_replace(
                self._executor, transactions, rows, self._dialect(), keep=LABEL_COLUMNS
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

    def recent(
        self, limit: int, decisions: Collection[Decision] | None = None
    ) -> list[TransactionRecord]:
        if limit <= 0:
            return []  # a negative LIMIT means "no limit" to SQLite
        statement = select(transactions).order_by(*_BY_NEWEST).limit(limit)
        if decisions is not None:
            wanted = sorted(Decision(decision).value for decision in decisions)
            statement = statement.where(transactions.c.decision.in_(wanted))
        return [to_record(row) for row in self._fetch(statement)]

    def pending(self, limit: int) -> list[TransactionRecord]:
        statement = (
            select(transactions)
            .where(transactions.c.status == Status.PENDING.value)
            .order_by(transactions.c.received_at, transactions.c.transaction_id)
            .limit(max(limit, 0))
        )
        return [to_record(row) for row in self._fetch(statement)]

    def status_counts(self) -> dict[str, int]:
        counts = {"pending": 0, **{d.value: 0 for d in Decision}, "failed": 0}
        statement = select(transactions.c.status, transactions.c.decision, func.count()).group_by(
            transactions.c.status, transactions.c.decision
        )
        with transient_errors_translated():
            grouped = self._executor.execute(statement).all()
        for status, decision, count in grouped:
            bucket = decision if decision is not None else status
            counts[bucket] = counts.get(bucket, 0) + count
        return counts

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

    def labelled(self, limit: int | None = None) -> list[TransactionRecord]:
        statement = (
            select(transactions)
            .where(transactions.c.label_is_fraud.is_not(None))
            .order_by(transactions.c.labelled_at, transactions.c.transaction_id)
        )
        if limit is not None:
            statement = statement.limit(max(limit, 0))
        return [to_record(row) for row in self._fetch(statement)]

    def label_precision(self, since: datetime) -> dict[str, dict[str, int]]:
        figures = {d: {"confirmed": 0, "cleared": 0, "unlabelled": 0} for d in _FLAGGED}
        statement = (
            select(transactions.c.decision, transactions.c.label_is_fraud, func.count())
            .where(
                transactions.c.decision.in_(_FLAGGED),
                transactions.c.received_at >= since,
            )
            .group_by(transactions.c.decision, transactions.c.label_is_fraud)
        )
        with transient_errors_translated():
            grouped = self._executor.execute(statement).all()
        for decision, is_fraud, count in grouped:
            figures[decision][_BUCKETS[None if is_fraud is None else bool(is_fraud)]] += count
        return figures

    def log_activity(self, tallies: Mapping[datetime, Bucket]) -> None:
        if not tallies:
            return
        rows = []
        for second, bucket in tallies.items():
            latency, scores = bucket.sparse_counts()
            rows.append(
                {
                    "second": second,
                    **{decision.value: n for decision, n in bucket.decisions.items()},
                    "latency_counts": {str(i): n for i, n in latency.items()},
                    "score_counts": {str(i): n for i, n in scores.items()},
                }
            )
        with transient_errors_translated():
            self._executor.execute(insert(verdict_activity), rows)

    def activity_since(self, since: datetime) -> list[tuple[datetime, Bucket]]:
        statement = select(verdict_activity).where(verdict_activity.c.second >= since)
        return [
            (
                row["second"],
                Bucket.from_counts(
                    {decision: row[decision.value] for decision in Decision},
                    {int(i): n for i, n in row["latency_counts"].items()},
                    {int(i): n for i, n in row["score_counts"].items()},
                ),
            )
            for row in self._fetch(statement)
        ]

    def prune_activity(self, before: datetime) -> int:
        statement = delete(verdict_activity).where(verdict_activity.c.second < before)
        with transient_errors_translated():
            return self._executor.execute(statement).rowcount or 0  # type: ignore[attr-defined]

    def _fetch(self, statement: Executable) -> list[RowMapping]:
        with transient_errors_translated():
            return list(self._executor.execute(statement).mappings())

    def _dialect(self) -> str:
        if isinstance(self._executor, Session):
            return self._executor.get_bind().dialect.name
        return self._executor.dialect.name


def _now() -> datetime:
    """When a row was last written: bookkeeping for operators, not a business fact."""
    return datetime.now(UTC)
