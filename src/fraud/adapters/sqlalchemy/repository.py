"""The write side's repositories on SQLAlchemy Core: verdicts, labels, the activity log,
dead-letter replays.

Each works on a connection (or session) the unit of work gives it and never
commits: the unit of work owns the transaction, so a use case's writes land
together or not at all. Every write is one statement per batch.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Collection, Mapping, Sequence
from datetime import UTC, datetime

from sqlalchemy import bindparam, delete, insert, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import Connection, RowMapping
from sqlalchemy.sql import Executable

from fraud.adapters.sqlalchemy.errors import transient_errors_translated
from fraud.adapters.sqlalchemy.rows import (
    activity_row,
    label_columns,
    to_record,
    to_row,
    version_row,
)
from fraud.adapters.sqlalchemy.tables import (
    dead_letter_replays,
    label_history,
    transactions,
    verdict_activity,
    verdict_versions,
)
from fraud.adapters.sqlalchemy.upserts import (
    NATIVE_DIALECTS,
    Executor,
    append,
    chunks,
    insert_missing,
    insert_or_fill,
)
from fraud.domain.assessment import (
    AnalystLabel,
    Decision,
    Scoring,
    Status,
    TransactionRecord,
    is_new_scoring,
    scoring,
)
from fraud.domain.monitoring import Bucket

# What a verdict writes into a claimed (pending) row; the transaction's own fields, when it
# was received, whether it was published and its label stay as they are.
VERDICT_COLUMNS = (
    "status",
    "fraud_score",
    "decision",
    "reasons",
    "model_version",
    "scored_at",
    "latency_ms",
    "features",
    "rule_hits",
    "rules_version",
    "explanation",
    "rule_faults",
    "error",
    "preprocessed_ms",
    "recorded_ms",
    "updated_at",
)

# The conditions of the ledger's fills, made once: see upserts' statement cache.
_UNDECIDED = transactions.c.decision.is_(None)
_ANY_LETTER = dead_letter_replays.c.letter.is_not(None)
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
    """Transactions and their verdicts, written on the caller's transaction."""

    def __init__(self, executor: Executor) -> None:
        self._executor = executor

    def get_many(self, transaction_ids: Collection[str]) -> dict[str, TransactionRecord]:
        found: dict[str, TransactionRecord] = {}
        for ids in chunks(list(dict.fromkeys(transaction_ids))):
            statement = select(transactions).where(transactions.c.transaction_id.in_(ids))
            for row in fetch(self._executor, statement):
                found[row["transaction_id"]] = to_record(row)
        return found

    def claim(self, records: Sequence[TransactionRecord]) -> set[str]:
        first_per_id: dict[str, TransactionRecord] = {}
        for record in records:
            first_per_id.setdefault(record.transaction.transaction_id, record)
        now = _now()
        rows = [to_row(record, now, published_at=None) for record in first_per_id.values()]
        with transient_errors_translated():
            return insert_missing(self._executor, transactions, rows, dialect_of(self._executor))

    def unpublished(self, limit: int, claimed_before: datetime) -> list[TransactionRecord]:
        statement = (
            select(transactions)
            .where(
                transactions.c.published_at.is_(None),
                transactions.c.received_at <= claimed_before,
            )
            .order_by(transactions.c.received_at, transactions.c.transaction_id)
            .limit(max(limit, 0))
        )
        return [to_record(row) for row in fetch(self._executor, statement)]

    def mark_published(self, transaction_ids: Collection[str], at: datetime) -> None:
        key = transactions.c.transaction_id
        for ids in chunks(list(transaction_ids)):
            statement = (
                update(transactions)
                .where(key.in_(ids), transactions.c.published_at.is_(None))
                .values(published_at=at)
            )
            with transient_errors_translated():
                self._executor.execute(statement)

    def republish_pending(self) -> int:
        statement = (
            update(transactions)
            .where(transactions.c.status == Status.PENDING.value)
            .values(published_at=None)
        )
        with transient_errors_translated():
            return self._executor.execute(statement).rowcount or 0  # type: ignore[attr-defined]

    def decide(self, records: Sequence[TransactionRecord]) -> set[str]:
        first_per_id: dict[str, TransactionRecord] = {}
        later: list[TransactionRecord] = []
        for record in records:
            kept = first_per_id.setdefault(record.transaction.transaction_id, record)
            if kept is not record:
                later.append(record)
        now = _now()
        rows = [to_row(record, now, published_at=now) for record in first_per_id.values()]
        with transient_errors_translated():
            decided: set[str] = insert_or_fill(
                self._executor,
                transactions,
                rows,
                dialect_of(self._executor),
                columns=VERDICT_COLUMNS,
                where=_UNDECIDED,
            )
        undecided = [
            r for r in first_per_id.values() if r.transaction.transaction_id not in decided
        ]
        # A transaction decided by this statement has no version kept yet: its other scorings
        # (a challenger's, in shadow: one per transaction of every batch) are compared with its
        # decision alone, with no look-up. The others are a redelivery or a replay.
        known: dict[str, list[Scoring]] = defaultdict(list)
        for transaction_id in decided:
            assessment = first_per_id[transaction_id].assessment
            if assessment is not None:
                known[transaction_id].append(scoring(assessment))
        self._keep_versions([*undecided, *later], now, known)
        return decided

    def _keep_versions(
        self,
        records: Sequence[TransactionRecord],
        now: datetime,
        known: dict[str, list[Scoring]],
    ) -> None:
        """Keep each scoring that differs from its transaction's decision and the versions
        already kept for it; ``known`` holds those of the transactions just decided, the
        others' are read (they repeat only on a redelivery or a replay: a rare path)."""
        if not records:
            return
        unread = {r.transaction.transaction_id for r in records} - known.keys()
        for ids in chunks(list(unread)):
            for table in (transactions, verdict_versions):
                statement = select(
                    table.c.transaction_id,
                    table.c.model_version,
                    table.c.decision,
                    table.c.fraud_score,
                ).where(table.c.transaction_id.in_(ids), table.c.decision.is_not(None))
                for row in fetch(self._executor, statement):
                    known[row["transaction_id"]].append(
                        (row["model_version"], Decision(row["decision"]), row["fraud_score"])
                    )
        rows = []
        for record in records:
            if record.assessment is None:
                continue
            candidate = scoring(record.assessment)
            kept = known[record.transaction.transaction_id]
            if is_new_scoring(candidate, kept):
                kept.append(candidate)
                rows.append(version_row(record, now))
        if not rows:
            return
        dialect = dialect_of(self._executor)
        if dialect in NATIVE_DIALECTS:
            native = (
                sqlite.insert(verdict_versions)
                if dialect == "sqlite"
                else postgresql.insert(verdict_versions)
            )
            statement = native.on_conflict_do_nothing(
                index_elements=["transaction_id", "model_version", "fraud_score"]
            )
        else:  # no portable "ignore the duplicate": the caller's retry sees the conflict
            statement = insert(verdict_versions)
        with transient_errors_translated():
            self._executor.execute(statement, rows)

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


class SqlLabelRepository:
    """Analysts' labels: the latest on the ``transactions`` row (a verdict never touches it),
    every one in ``label_history`` with the value it replaced."""

    def __init__(self, executor: Executor) -> None:
        self._executor = executor

    def set_labels(self, labels: Mapping[str, AnalystLabel]) -> set[str]:
        if not labels:
            return set()
        key = transactions.c.transaction_id
        previous: dict[str, bool | None] = {}
        for ids in chunks(list(labels)):
            statement = select(key, transactions.c.label_is_fraud).where(key.in_(ids))
            for row in fetch(self._executor, statement):
                stored = row["label_is_fraud"]
                previous[row["transaction_id"]] = None if stored is None else bool(stored)
        if not previous:
            return set()
        now = _now()
        updates, history = [], []
        for transaction_id in sorted(previous):
            label = labels[transaction_id]
            columns = label_columns(label)
            updates.append(
                {
                    "labelled_id": transaction_id,
                    "new_is_fraud": columns["label_is_fraud"],
                    "new_analyst": columns["label_analyst"],
                    "new_labelled_at": columns["labelled_at"],
                    "new_updated_at": now,
                }
            )
            history.append(
                {
                    "transaction_id": transaction_id,
                    "is_fraud": label.is_fraud,
                    "analyst": label.analyst,
                    "labelled_at": label.labelled_at,
                    "previous_is_fraud": previous[transaction_id],
                }
            )
        with transient_errors_translated():
            self._executor.execute(_SET_LABEL, updates)
            self._executor.execute(insert(label_history), history)
        return set(previous)


class SqlActivityLog:
    """Per-second verdict tallies in ``verdict_activity``, appended with each recorded batch."""

    def __init__(self, executor: Executor) -> None:
        self._executor = executor

    def log(self, tallies: Mapping[datetime, Bucket]) -> None:
        if not tallies:
            return
        rows = [activity_row(second, bucket) for second, bucket in tallies.items()]
        with transient_errors_translated():
            append(self._executor, verdict_activity, rows, dialect_of(self._executor))

    def prune(self, before: datetime) -> int:
        statement = delete(verdict_activity).where(verdict_activity.c.second < before)
        with transient_errors_translated():
            return self._executor.execute(statement).rowcount or 0  # type: ignore[attr-defined]


class SqlDeadLetterReplays:
    """Dead letters already sent back to their source, in ``dead_letter_replays``."""

    def __init__(self, executor: Executor) -> None:
        self._executor = executor

    def replayed(self, letters: Collection[str]) -> set[str]:
        found: set[str] = set()
        key = dead_letter_replays.c.letter
        for chunk in chunks(list(letters)):
            with transient_errors_translated():
                found.update(self._executor.execute(select(key).where(key.in_(chunk))).scalars())
        return found

    def mark_replayed(self, letters: Collection[str], at: datetime) -> None:
        rows = [{"letter": letter, "replayed_at": at} for letter in letters]
        with transient_errors_translated():
            insert_or_fill(
                self._executor,
                dead_letter_replays,
                rows,
                dialect_of(self._executor),
                columns=("replayed_at",),
                where=_ANY_LETTER,
            )


def fetch(executor: Executor, statement: Executable) -> list[RowMapping]:
    with transient_errors_translated():
        return list(executor.execute(statement).mappings())


def dialect_of(executor: Executor) -> str:
    if isinstance(executor, Connection):
        return executor.dialect.name
    return executor.get_bind().dialect.name  # a session's, without starting a transaction


def _now() -> datetime:
    """When a row was last written: bookkeeping for operators, not a business fact."""
    return datetime.now(UTC)
