"""The read side on SQLAlchemy Core: what the API and the dashboard ask of the store.

Every query borrows a pooled connection for itself and gives it back; nothing
here writes, so there is no transaction to commit or roll back.
"""

from __future__ import annotations

from collections.abc import Collection
from datetime import datetime

from sqlalchemy import func, select
from sqlalchemy.engine import Engine, RowMapping
from sqlalchemy.sql import Executable

from fraud.adapters.sqlalchemy.errors import transient_errors_translated
from fraud.adapters.sqlalchemy.repository import fetch
from fraud.adapters.sqlalchemy.rows import activity_bucket, to_record
from fraud.adapters.sqlalchemy.tables import transactions, verdict_activity
from fraud.domain.assessment import Decision, TransactionRecord
from fraud.domain.monitoring import Bucket

_BY_NEWEST = (transactions.c.received_at.desc(), transactions.c.transaction_id.desc())
_FLAGGED = (Decision.REVIEW.value, Decision.DECLINE.value)
_BUCKETS = {None: "unlabelled", True: "confirmed", False: "cleared"}  # by label_is_fraud


class SqlQueries:
    """The ``VerdictQueries`` and ``ActivityQueries`` ports on the engine's database."""

    def __init__(self, engine: Engine) -> None:
        self._engine = engine

    def get(self, transaction_id: str) -> TransactionRecord | None:
        rows = self._rows(
            select(transactions).where(transactions.c.transaction_id == transaction_id)
        )
        return to_record(rows[0]) if rows else None

    def recent(
        self, limit: int, decisions: Collection[Decision] | None = None
    ) -> list[TransactionRecord]:
        if limit <= 0:
            return []  # a negative LIMIT means "no limit" to SQLite
        statement = select(transactions).order_by(*_BY_NEWEST).limit(limit)
        if decisions is not None:
            wanted = sorted(Decision(decision).value for decision in decisions)
            statement = statement.where(transactions.c.decision.in_(wanted))
        return [to_record(row) for row in self._rows(statement)]

    def status_counts(self) -> dict[str, int]:
        counts = {"pending": 0, **{d.value: 0 for d in Decision}, "failed": 0}
        statement = select(transactions.c.status, transactions.c.decision, func.count()).group_by(
            transactions.c.status, transactions.c.decision
        )
        for status, decision, count in self._tuples(statement):
            bucket = decision if decision is not None else status
            counts[bucket] = counts.get(bucket, 0) + count
        return counts

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
        for decision, is_fraud, count in self._tuples(statement):
            figures[decision][_BUCKETS[None if is_fraud is None else bool(is_fraud)]] += count
        return figures

    def labelled(self, limit: int | None = None) -> list[TransactionRecord]:
        statement = (
            select(transactions)
            .where(transactions.c.label_is_fraud.is_not(None))
            .order_by(transactions.c.labelled_at, transactions.c.transaction_id)
        )
        if limit is not None:
            statement = statement.limit(max(limit, 0))
        return [to_record(row) for row in self._rows(statement)]

    def activity_since(self, since: datetime) -> list[tuple[datetime, Bucket]]:
        statement = select(verdict_activity).where(verdict_activity.c.second >= since)
        return [(row["second"], activity_bucket(row)) for row in self._rows(statement)]

    def _rows(self, statement: Executable) -> list[RowMapping]:
        with transient_errors_translated(), self._engine.connect() as connection:
            return fetch(connection, statement)

    def _tuples(self, statement: Executable) -> list[tuple[object, ...]]:
        with transient_errors_translated(), self._engine.connect() as connection:
            return [tuple(row) for row in connection.execute(statement).all()]
