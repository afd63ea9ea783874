"""The read side on SQLAlchemy Core: what the API and the dashboard ask of the store.

Every query borrows a pooled connection for itself and gives it back; nothing
here writes, so there is no transaction to commit or roll back.
"""

from __future__ import annotations

from collections.abc import Collection, Iterator
from dataclasses import replace
from datetime import datetime
from typing import Any

from sqlalchemy import Select, func, select, tuple_
from sqlalchemy.engine import Engine, RowMapping
from sqlalchemy.sql import ColumnElement, Executable

from fraud.adapters.sqlalchemy.errors import transient_errors_translated
from fraud.adapters.sqlalchemy.repository import fetch
from fraud.adapters.sqlalchemy.rows import (
    TRANSACTION_COLUMNS,
    activity_bucket,
    to_assessment,
    to_label_change,
    to_record,
    to_transaction,
)
from fraud.adapters.sqlalchemy.tables import (
    label_history,
    transactions,
    verdict_activity,
    verdict_versions,
)
from fraud.adapters.sqlalchemy.upserts import chunks
from fraud.domain.assessment import Decision, Status, TransactionRecord
from fraud.domain.challenge import Scored
from fraud.domain.label_risk import LabelEvent
from fraud.domain.monitoring import Bucket
from fraud.domain.transaction import Transaction

_BY_NEWEST = (transactions.c.received_at.desc(), transactions.c.transaction_id.desc())
_FLAGGED = (Decision.REVIEW.value, Decision.DECLINE.value)
_BUCKETS = {None: "unlabelled", True: "confirmed", False: "cleared"}  # by label_is_fraud
ACCEPTED_PAGE = 10_000


class SqlQueries:
    """The ``VerdictQueries`` and ``ActivityQueries`` ports on the engine's database."""

    def __init__(self, engine: Engine) -> None:
        self._engine = engine

    def get(self, transaction_id: str) -> TransactionRecord | None:
        with transient_errors_translated(), self._engine.connect() as connection:
            rows = fetch(
                connection,
                select(transactions).where(transactions.c.transaction_id == transaction_id),
            )
            if not rows:
                return None
            versions = fetch(
                connection,
                select(verdict_versions)
                .where(verdict_versions.c.transaction_id == transaction_id)
                .order_by(verdict_versions.c.scored_at, verdict_versions.c.id),
            )
            labels = fetch(
                connection,
                select(label_history)
                .where(label_history.c.transaction_id == transaction_id)
                .order_by(label_history.c.labelled_at, label_history.c.id),
            )
        return replace(
            to_record(rows[0]),
            versions=tuple(map(to_assessment, versions)),
            label_history=tuple(map(to_label_change, labels)),
        )

    def recent(
        self,
        limit: int,
        decisions: Collection[Decision] | None = None,
        user_id: str | None = None,
    ) -> list[TransactionRecord]:
        if limit <= 0:
            return []  # a negative LIMIT means "no limit" to SQLite
        statement = select(transactions).order_by(*_BY_NEWEST).limit(limit)
        if decisions is not None:
            wanted = sorted(Decision(decision).value for decision in decisions)
            statement = statement.where(transactions.c.decision.in_(wanted))
        if user_id is not None:
            statement = statement.where(transactions.c.user_id == user_id)
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

    def scored_between(self, since: datetime, until: datetime) -> Iterator[TransactionRecord]:
        columns = transactions.c
        received = (columns.received_at >= since, columns.received_at <= until)
        statement = select(transactions).where(*received, columns.status == Status.SCORED.value)
        yield from map(to_record, self._pages(statement, columns.received_at))

    def accepted_since(self, since: datetime) -> Iterator[Transaction]:
        # The transaction's own columns only: a restart reads every one stored, and its
        # verdict's JSON (features, reasons) would be read and parsed for nothing.
        columns = transactions.c
        statement = select(*(columns[name] for name in TRANSACTION_COLUMNS)).where(
            columns.timestamp >= since, columns.status != Status.FAILED.value
        )
        yield from map(to_transaction, self._pages(statement, columns.timestamp))

    def _pages(self, statement: Select[Any], instant: ColumnElement[Any]) -> Iterator[RowMapping]:
        """The rows of ``statement`` in order of ``instant`` (ties: transaction_id), read in
        keyset pages: no offset to skip, no connection held between them."""
        key = transactions.c.transaction_id
        after: tuple[Any, str] | None = None
        while True:
            page = statement.order_by(instant, key).limit(ACCEPTED_PAGE)
            if after is not None:
                page = page.where(tuple_(instant, key) > tuple_(*after))
            rows = self._rows(page)
            yield from rows
            if len(rows) < ACCEPTED_PAGE:
                return
            after = (rows[-1][instant.key], rows[-1]["transaction_id"])

    def scores_of(
        self, model_version: str, since: datetime
    ) -> list[tuple[float, bool | None, datetime]]:
        decided, version = transactions.c, verdict_versions.c
        as_decision = select(
            decided.fraud_score, decided.label_is_fraud, decided.received_at
        ).where(decided.model_version == model_version, decided.received_at >= since)
        in_shadow = (
            select(version.fraud_score, decided.label_is_fraud, decided.received_at)
            .join_from(
                verdict_versions, transactions, version.transaction_id == decided.transaction_id
            )
            .where(version.model_version == model_version, decided.received_at >= since)
        )
        return [
            (
                float(row["fraud_score"]),
                None if row["label_is_fraud"] is None else bool(row["label_is_fraud"]),
                row["received_at"],
            )
            for statement in (as_decision, in_shadow)
            for row in self._rows(statement)
        ]

    def challenged(self, champion: str, challenger: str, since: datetime) -> list[Scored]:
        version, decided = verdict_versions.c, transactions.c
        statement = (
            select(
                decided.fraud_score.label("champion_score"),
                decided.decision.label("champion_decision"),
                version.fraud_score.label("challenger_score"),
                version.decision.label("challenger_decision"),
                decided.label_is_fraud,
            )
            .join_from(
                verdict_versions, transactions, version.transaction_id == decided.transaction_id
            )
            .where(
                version.model_version == challenger,
                decided.model_version == champion,
                decided.received_at >= since,
            )
        )
        return [
            Scored(
                float(row["champion_score"]),
                Decision(row["champion_decision"]),
                float(row["challenger_score"]),
                Decision(row["challenger_decision"]),
                None if row["label_is_fraud"] is None else bool(row["label_is_fraud"]),
            )
            for row in self._rows(statement)
        ]

    def merchant_counts(self, since: datetime, merchants: Collection[str]) -> dict[str, int]:
        columns = transactions.c
        counts: dict[str, int] = {}
        for names in chunks(list(merchants)):
            statement = (
                select(columns.merchant, func.count().label("transactions"))
                .where(columns.timestamp >= since, columns.merchant.in_(names))
                .group_by(columns.merchant)
            )
            counts.update((row["merchant"], row["transactions"]) for row in self._rows(statement))
        return counts

    def label_events(
        self, since: datetime, *, labelled_since: datetime | None = None
    ) -> list[LabelEvent]:
        labelled = transactions.c
        statement = (
            select(
                label_history.c.transaction_id,
                label_history.c.is_fraud,
                label_history.c.labelled_at,
                labelled.user_id,
                labelled.merchant,
                labelled.timestamp,
            )
            .join(transactions, labelled.transaction_id == label_history.c.transaction_id)
            .where(labelled.timestamp >= since)
            .order_by(label_history.c.id)
        )
        if labelled_since is not None:
            statement = statement.where(label_history.c.labelled_at >= labelled_since)
        return [
            LabelEvent(
                row["transaction_id"],
                bool(row["is_fraud"]),
                row["labelled_at"].timestamp(),
                row["user_id"],
                row["merchant"],
                row["timestamp"].timestamp(),
            )
            for row in self._rows(statement)
        ]

    def activity_since(self, since: datetime) -> list[tuple[datetime, Bucket]]:
        statement = select(verdict_activity).where(verdict_activity.c.second >= since)
        return [(row["second"], activity_bucket(row)) for row in self._rows(statement)]

    def _rows(self, statement: Executable) -> list[RowMapping]:
        with transient_errors_translated(), self._engine.connect() as connection:
            return fetch(connection, statement)

    def _tuples(self, statement: Executable) -> list[tuple[object, ...]]:
        with transient_errors_translated(), self._engine.connect() as connection:
            return [tuple(row) for row in connection.execute(statement).all()]
